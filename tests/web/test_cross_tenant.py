"""Tenant isolation: a user of tenant A gets 404 for every URL that names an object of tenant B.

Every route of the app must be listed here in one of the tables below, so a new route cannot
land without saying how it is isolated.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.imports.options import ImportOptions
from app.imports.service import store_upload
from app.models import ApiToken, Contact, ExportJob, ImportJob, Notification, Tenant, User
from app.models.types import utcnow
from app.storage import object_key
from tests.conftest import AuthActions, csrf_token, make_tenant, make_user

SECRET = "globex-secret-value"


@dataclass
class Objects:
    """Objects that belong to tenant B."""

    contact: Contact
    export: ExportJob
    draft: ImportJob
    finished: ImportJob
    note: Notification


def _import(tenant: Tenant, status: str) -> ImportJob:
    """An import of tenant B, with its file stored: a wizard draft or a finished import."""
    content = f"Email\n{SECRET}@globex.test\n".encode()
    key, size = store_upload(tenant.id, io.BytesIO(content), f"{SECRET}.csv")
    options = ImportOptions(
        file_name=f"{SECRET}.csv", file_key=key, file_type="csv", field_mapping={"Email": "email"}
    )
    wizard = {"headers": ["Email"], "choices": {"Email": "email"}, "reached": "confirm"}
    wizard["sample"] = [[2, [f"{SECRET}@globex.test"], None]]
    job = ImportJob(
        tenant_id=tenant.id,
        file_name=f"{SECRET}.csv",
        file_size=size,
        file_url=key,
        file_type="csv",
        field_mapping={"Email": "email"},
        import_options={**options.to_dict(), "wizard": wizard},
        status=status,
        error_report_key=key if status == "completed" else None,
    )
    db.session.add(job)
    db.session.commit()
    return job


def _export(tenant: Tenant) -> ExportJob:
    """A finished export of tenant B, with its file stored."""
    from flask import current_app

    key = object_key(tenant.id, "exports", ".csv")
    current_app.extensions["storage"].save(key, io.BytesIO(f"Email\n{SECRET}\n".encode()))
    job = ExportJob(
        tenant_id=tenant.id,
        export_type="full",
        file_format="csv",
        file_name=f"{SECRET}.csv",
        file_url=key,
        status="completed",
        expires_at=utcnow() + timedelta(days=7),
    )
    db.session.add(job)
    db.session.commit()
    return job


def make_objects(tenant: Tenant) -> Objects:
    contact = Contact(
        tenant_id=tenant.id,
        email=f"{SECRET}@globex.test",
        email_normalized=f"{SECRET}@globex.test",
        first_name=SECRET,
    )
    note = Notification(tenant_id=tenant.id, kind="import", message=SECRET, link="/")
    db.session.add_all([contact, note])
    db.session.commit()
    return Objects(
        contact=contact,
        export=_export(tenant),
        draft=_import(tenant, "draft"),
        finished=_import(tenant, "completed"),
        note=note,
    )


# endpoint -> (method, URL of tenant B's object)
OBJECT_ROUTES: dict[str, tuple[str, Callable[[Objects], str]]] = {
    "contacts.detail": ("GET", lambda o: f"/contacts/{o.contact.id}"),
    "exports.detail": ("GET", lambda o: f"/exports/{o.export.id}"),
    "exports.download": ("GET", lambda o: f"/exports/{o.export.id}/download"),
    "wizard.source": ("GET", lambda o: f"/imports/{o.draft.id}/file"),
    "wizard.mapping": ("GET", lambda o: f"/imports/{o.draft.id}/mapping"),
    "wizard.options": ("GET", lambda o: f"/imports/{o.draft.id}/options"),
    "wizard.confirm": ("GET", lambda o: f"/imports/{o.draft.id}/confirm"),
    "wizard.dry_run": ("POST", lambda o: f"/imports/{o.draft.id}/dry-run"),
    "wizard.dry_run_errors": ("GET", lambda o: f"/imports/{o.draft.id}/dry-run/errors.csv"),
    "wizard.start": ("POST", lambda o: f"/imports/{o.draft.id}/start"),
    "wizard.discard": ("POST", lambda o: f"/imports/{o.draft.id}/discard"),
    "wizard.job": ("GET", lambda o: f"/imports/{o.finished.id}"),
    "wizard.cancel": ("POST", lambda o: f"/imports/{o.finished.id}/cancel"),
    "wizard.error_report": ("GET", lambda o: f"/imports/{o.finished.id}/error-report"),
    "history.import_detail": ("GET", lambda o: f"/history/imports/{o.finished.id}"),
    "history.rollback": ("POST", lambda o: f"/history/imports/{o.finished.id}/rollback"),
    "notifications.open_note": ("GET", lambda o: f"/notifications/{o.note.id}"),
}

# API endpoint -> (method, URL of tenant B's object), called with a bearer token of tenant A.
API_OBJECT_ROUTES: dict[str, tuple[str, Callable[[Objects], str]]] = {
    "api.get_import": ("GET", lambda o: f"/api/contacts/import/{o.finished.id}"),
    "api.rollback_import": ("POST", lambda o: f"/api/contacts/import/{o.finished.id}/rollback"),
    "api.cancel_import": ("POST", lambda o: f"/api/contacts/import/{o.draft.id}/cancel"),
    "api.get_export": ("GET", lambda o: f"/api/contacts/export/{o.export.id}"),
    "api.download_export": ("GET", lambda o: f"/api/contacts/export/{o.export.id}/download"),
    "api.get_contact": ("GET", lambda o: f"/api/contacts/{o.contact.id}"),
}

# Routes that name no tenant object; they must still refuse anonymous visitors unless public.
PUBLIC_ROUTES = {"auth.login", "main.healthz", "static", "api.openapi_json", "api.docs"}
SIGNED_LINK_ROUTES = {"files.download"}  # authorised by a signed, expiring token instead
TOKEN_ROUTES_PREFIX = "api."  # authorised by a bearer token (tests/web/api/)


def test_every_route_is_classified(app: Flask) -> None:
    known = set(OBJECT_ROUTES) | set(API_OBJECT_ROUTES) | PUBLIC_ROUTES | SIGNED_LINK_ROUTES
    unclassified = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in known:
            continue
        if rule.arguments:
            unclassified.append(rule.rule)
    assert not unclassified, (
        f"add these routes to OBJECT_ROUTES or API_OBJECT_ROUTES: {unclassified}"
    )


def test_routes_without_objects_need_a_signed_in_user(app: Flask, client: FlaskClient) -> None:
    for rule in app.url_map.iter_rules():
        if (
            rule.arguments
            or rule.endpoint in PUBLIC_ROUTES
            or rule.endpoint.startswith(TOKEN_ROUTES_PREFIX)
        ):
            continue
        method = "GET" if "GET" in rule.methods else "POST"
        response = client.open(rule.rule, method=method)
        assert response.status_code in (302, 400, 401), rule.rule
        if response.status_code == 302:
            assert response.headers["Location"].startswith("/login"), rule.rule


@pytest.mark.parametrize("endpoint", sorted(OBJECT_ROUTES))
def test_user_of_another_tenant_gets_404(
    endpoint: str, client: FlaskClient, auth: AuthActions, signed_in: User
) -> None:
    other = make_objects(make_tenant("Globex"))
    method, url = OBJECT_ROUTES[endpoint]
    response = client.open(url(other), method=method, headers=_csrf(client, method))
    assert response.status_code == 404
    assert SECRET not in response.get_data(as_text=True)


@pytest.mark.parametrize("endpoint", sorted(OBJECT_ROUTES))
def test_owner_can_open_the_same_url(
    endpoint: str, client: FlaskClient, auth: AuthActions, app: Flask
) -> None:
    globex = make_tenant("Globex")
    make_user(globex, "hank@globex.test")
    own = make_objects(globex)
    auth.login("hank@globex.test")
    method, url = OBJECT_ROUTES[endpoint]
    response = client.open(url(own), method=method, headers=_csrf(client, method))
    # 200, or a redirect for a form post and for links that lead on (a notification's link)
    assert (
        response.status_code in ((200,) if method == "GET" else (200, 303))
        or (endpoint == "notifications.open_note" and response.status_code == 303)
        or (endpoint == "exports.download" and response.status_code == 302)
    )  # to the signed link


def _csrf(client: FlaskClient, method: str) -> dict[str, str]:
    """A form post carries the CSRF token, as a browser's would, so the tenant check is reached."""
    return {"X-CSRFToken": csrf_token(client, "/")} if method == "POST" else {}


def _bearer(user: User) -> dict[str, str]:
    token, raw = ApiToken.issue(user)
    db.session.add(token)
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


@pytest.mark.parametrize("endpoint", sorted(API_OBJECT_ROUTES))
def test_api_token_of_another_tenant_gets_the_same_404_as_a_missing_object(
    endpoint: str, app: Flask, user: User
) -> None:
    other = make_objects(make_tenant("Globex"))
    client = app.test_client(use_cookies=False)
    method, url = API_OBJECT_ROUTES[endpoint]
    headers = _bearer(user)
    response = client.open(url(other), method=method, headers=headers)
    assert response.status_code == 404
    assert SECRET not in response.get_data(as_text=True)
    missing = Objects(**{k: _Ghost() for k in ("contact", "export", "draft", "finished", "note")})
    nobody = client.open(url(missing), method=method, headers=headers)
    assert (nobody.status_code, nobody.get_json()) == (404, response.get_json())
    db.session.expire_all()
    assert db.session.get(ImportJob, other.finished.id).rollback_status is None
    assert db.session.get(ImportJob, other.draft.id).status == "draft"


@pytest.mark.parametrize("endpoint", sorted(API_OBJECT_ROUTES))
def test_api_token_of_the_owner_can_use_the_same_url(endpoint: str, app: Flask) -> None:
    globex = make_tenant("Globex")
    own = make_objects(globex)
    client = app.test_client(use_cookies=False)
    method, url = API_OBJECT_ROUTES[endpoint]
    response = client.open(url(own), method=method, headers=_bearer(make_user(globex)))
    assert response.status_code == (200 if method == "GET" else 202), response.get_json()


class _Ghost:
    """Stands in for an object that does not exist: only its random id is used."""

    def __init__(self) -> None:
        self.id = uuid.uuid4()
