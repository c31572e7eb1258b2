"""Tenant isolation beyond single objects: lists, ids inside requests, and no cookie access."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import ExportJob, ImportJob, Segment, User
from tests.conftest import csrf_token, make_tenant
from tests.web.api.conftest import ApiClient
from tests.web.test_cross_tenant import SECRET, make_objects

PUBLIC = {"api.openapi_json", "api.docs"}


def test_lists_never_show_another_tenants_items(api: ApiClient) -> None:
    make_objects(make_tenant("Globex"))
    for url in ("/api/contacts", "/api/contacts/imports", "/api/contacts/exports", "/api/me"):
        response = api.get(url)
        assert response.status_code == 200
        assert SECRET not in response.get_data(as_text=True), url
    assert api.get("/api/contacts").get_json()["items"] == []


def test_another_tenants_segment_is_like_no_segment(api: ApiClient) -> None:
    globex = make_tenant("Globex")
    objects = make_objects(globex)
    segment = Segment(tenant_id=globex.id, name="Globex VIPs")
    segment.contacts.append(objects.contact)
    db.session.add(segment)
    db.session.commit()
    listed = api.get(f"/api/contacts?segmentId={segment.id}")
    assert listed.get_json() == {"items": [], "nextCursor": None}
    theirs = api.post("/api/contacts/export", json={"segmentId": str(segment.id)})
    nobody = api.post(
        "/api/contacts/export", json={"segmentId": "00000000-0000-4000-8000-000000000000"}
    )
    assert theirs.status_code == nobody.status_code == 422
    assert theirs.get_json() == nobody.get_json()
    assert (
        db.session.scalar(select(func.count(ExportJob.id)).where(ExportJob.tenant_id != globex.id))
        == 0
    )


def test_a_signed_in_browser_session_cannot_call_the_api(
    app: Flask, client: FlaskClient, signed_in: User
) -> None:
    token = csrf_token(client, "/")
    assert client.get("/api/contacts").status_code == 401
    response = client.post(
        "/api/contacts/export",
        json={},
        headers={"X-CSRFToken": token, "Origin": "http://evil.test"},
    )
    assert response.status_code == 401
    assert "not a signed-in browser session" in response.get_json()["error"]
    assert response.get_json()["details"] == []
    assert db.session.scalar(select(func.count(ExportJob.id))) == 0
    assert db.session.scalar(select(func.count(ImportJob.id))) == 0


def test_every_api_route_but_the_description_needs_a_token(app: Flask) -> None:
    client = app.test_client(use_cookies=False)
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint in PUBLIC:
            continue
        url = rule.rule.replace("<job_id>", "x").replace("<contact_id>", "x")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(url, method=method)
            assert response.status_code == 401, (method, url)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
