"""The export pages as a user drives them: form, live count, job page, download links."""

from __future__ import annotations

import re
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.exports.service import run_export
from app.extensions import db
from app.models import ExportJob, Tenant, User
from app.models.types import utcnow
from app.storage import S3Storage
from app.web.api.openapi import document
from tests.conftest import S3_REGION, csrf_token, make_tenant
from tests.exports.conftest import add_custom_fields, export_now, person, segment, stored_bytes


@pytest.fixture
def contacts(app: Flask, tenant: Tenant) -> Tenant:
    add_custom_fields(tenant)
    person(
        tenant,
        "ada@example.com",
        first_name="Ada",
        company="Acme",
        tags=("vip",),
        segments=("Warm leads",),
        custom={"zip": "01234"},
    )
    person(tenant, "grace@example.com", first_name="Grace", company="Globex", tags=("customer",))
    person(tenant, "alan@example.org", first_name="Alan", subscription_status="unsubscribed")
    person(make_tenant("Globex"), "spy@globex.test", tags=("vip",))
    return tenant


def form_data(client: FlaskClient, **overrides: Any) -> dict[str, Any]:
    """The form as the page sends it by default, with `overrides`."""
    data: dict[str, Any] = {
        "csrf_token": csrf_token(client, "/exports/new"),
        "scope": "full",
        "file_format": "csv",
        "fields": ["email", "first_name", "last_name", "company", "phone"],
        "order": ["email", "first_name", "last_name", "company", "phone", "tags", "custom:zip"],
        "tags_mode": "any",
        "conditions-0-field": "",
        "conditions-0-op": "equals",
        "conditions-0-value": "",
        "action": "create",
    }
    data.update(overrides)
    return data


def created(client: FlaskClient, **overrides: Any) -> ExportJob:
    response = client.post("/exports/new", data=form_data(client, **overrides))
    assert response.status_code == 303, response.get_data(as_text=True)
    job_id = response.headers["Location"].rsplit("/", 1)[-1]
    job = db.session.get(ExportJob, uuid.UUID(job_id))
    assert job is not None
    return job


def test_form_starts_with_sensible_defaults_and_the_count(
    client: FlaskClient, contacts: Tenant, signed_in: User
) -> None:
    html = client.get("/exports/new").get_data(as_text=True)
    checked = re.findall(r'name="fields" value="([^"]+)" checked', html)
    assert checked == ["email", "first_name", "last_name", "company", "phone"]
    assert 'value="csv" checked' in html or re.search(r'checked[^>]*value="csv"', html)
    assert '<strong id="export-count-value">3</strong> contacts will be exported' in html
    assert "ZIP" in html and "Warm leads" in html and "customer" in html


def test_dashboard_and_contacts_list_link_to_the_form(
    client: FlaskClient, contacts: Tenant, signed_in: User
) -> None:
    assert 'href="/exports/new"' in client.get("/").get_data(as_text=True)
    html = client.get("/contacts/?tag=vip").get_data(as_text=True)
    assert 'href="/exports/new?tag=vip"' in html
    form = client.get("/exports/new?tag=vip").get_data(as_text=True)
    assert re.search(r'<input[^>]*checked[^>]*value="filtered"|value="filtered"[^>]*checked', form)
    assert '<strong id="export-count-value">1</strong> contact will be exported' in form


def test_a_segment_link_opens_the_form_on_that_segment(
    client: FlaskClient, contacts: Tenant, signed_in: User
) -> None:
    warm = segment(contacts, "Warm leads")
    html = client.get(f"/exports/new?segment={warm.id}").get_data(as_text=True)
    assert f'<option selected value="{warm.id}">' in html or f'value="{warm.id}" selected' in html
    assert '<strong id="export-count-value">1</strong>' in html


def test_live_count_follows_the_filters(
    client: FlaskClient, contacts: Tenant, signed_in: User
) -> None:
    def count(**args: Any) -> str:
        response = client.get("/exports/count", query_string=args, headers={"HX-Request": "true"})
        assert response.status_code == 200
        return re.sub(r"<[^>]+>", "", response.get_data(as_text=True)).strip()

    assert count(scope="full") == "3 contacts will be exported"
    assert count(scope="filtered", tags="vip") == "1 contact will be exported"
    assert count(scope="filtered", statuses="unsubscribed") == "1 contact will be exported"
    assert (
        count(
            scope="filtered",
            **{
                "conditions-0-field": "company",
                "conditions-0-op": "contains",
                "conditions-0-value": "glo",
            },
        )
        == "1 contact will be exported"
    )
    assert (
        count(scope="filtered", **{"conditions-0-field": "custom:zip", "conditions-0-op": "empty"})
        == "2 contacts will be exported"
    )


def test_creating_an_export_stores_the_request_and_opens_its_page(
    client: FlaskClient, contacts: Tenant, signed_in: User
) -> None:
    job = created(
        client,
        scope="filtered",
        tags=["vip", "customer"],
        tags_mode="all",
        statuses=["subscribed"],
        created_from="2024-01-01",
        min_opened="0",
        fields=["email", "tags", "custom:zip"],
        order=["custom:zip", "email", "first_name", "tags"],
        file_format="xlsx",
        **{
            "conditions-0-field": "company",
            "conditions-0-op": "contains",
            "conditions-0-value": "acme",
        },
    )
    assert job.export_type == "filtered"
    assert job.file_format == "xlsx"
    assert job.selected_fields == ["custom:zip", "email", "tags"]
    assert job.filters == {
        "tags": ["vip", "customer"],
        "tags_mode": "all",
        "statuses": ["subscribed"],
        "created_from": "2024-01-01",
        "conditions": [{"field": "company", "op": "contains", "value": "acme"}],
    }
    assert job.status == "pending" and job.created_by == signed_in.id
    page = client.get(f"/exports/{job.id}").get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in page
    assert "company contains “acme”" in page.replace("Company", "company")
    assert "ZIP, Email, Tags" in page


def test_segment_export_is_stored_as_segment(
    client: FlaskClient, contacts: Tenant, signed_in: User
) -> None:
    warm = segment(contacts, "Warm leads")
    job = created(client, scope="segment", segment=str(warm.id))
    assert (job.export_type, job.filters) == ("segment", {"segment_id": str(warm.id)})
    assert job.file_name.startswith("contacts-segment-warm-leads-")


def test_full_export_ignores_filters_it_was_sent(
    client: FlaskClient, contacts: Tenant, signed_in: User
) -> None:
    job = created(client, scope="full", tags=["vip"])
    assert (job.export_type, job.filters) == ("full", {})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"fields": []}, "Choose at least one field to export."),
        ({"scope": "segment"}, "Choose the segment to export."),
        (
            {"scope": "filtered", "created_from": "2025-05-01", "created_to": "2025-04-01"},
            "This date is before the start date.",
        ),
        (
            {"scope": "filtered", "conditions-0-field": "company", "conditions-0-op": "equals"},
            "Type the value that Company should equal.",
        ),
        ({"scope": "filtered", "min_opened": "-1"}, "Use 0 or more."),
    ],
)
def test_form_errors_are_shown_and_nothing_is_created(
    client: FlaskClient, contacts: Tenant, signed_in: User, overrides: dict[str, Any], message: str
) -> None:
    response = client.post("/exports/new", data=form_data(client, **overrides))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(ExportJob)) is None


def test_moving_a_field_returns_the_reordered_list(
    client: FlaskClient, contacts: Tenant, signed_in: User
) -> None:
    headers = {"HX-Request": "true", "HX-Target": "field-picker"}
    response = client.post(
        "/exports/new", data=form_data(client, action="up:company"), headers=headers
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.startswith('<div id="field-picker"')
    order = re.findall(r'name="order" value="([^"]+)"', html)
    assert order[:5] == ["email", "first_name", "company", "last_name", "phone"]
    assert re.findall(r'name="fields" value="([^"]+)" checked', html) == [
        "email",
        "first_name",
        "company",
        "last_name",
        "phone",
    ]
    assert db.session.scalar(select(ExportJob)) is None


def test_adding_a_condition_shows_another_row(
    client: FlaskClient, contacts: Tenant, signed_in: User
) -> None:
    headers = {"HX-Request": "true", "HX-Target": "conditions"}
    response = client.post(
        "/exports/new", data=form_data(client, action="add-condition"), headers=headers
    )
    html = response.get_data(as_text=True)
    assert html.startswith('<fieldset id="conditions"')
    assert 'name="conditions-1-field"' in html and "ZIP" in html


def test_job_page_polls_until_done_then_offers_the_download(
    app: Flask, client: FlaskClient, contacts: Tenant, signed_in: User
) -> None:
    job = created(client)
    poll = client.get(f"/exports/{job.id}", headers={"HX-Request": "true"})
    assert poll.status_code == 200 and 'hx-trigger="every 1s"' in poll.get_data(as_text=True)
    run_export(job.id)
    poll = client.get(f"/exports/{job.id}", headers={"HX-Request": "true"})
    html = poll.get_data(as_text=True)
    assert poll.status_code == 286  # htmx stops polling
    assert "hx-trigger" not in html
    assert f'href="/exports/{job.id}/download"' in html and "3 contacts" in html


def download_via_local_link(app: Flask, client: FlaskClient, job: ExportJob) -> bytes:
    response = client.get(f"/exports/{job.id}/download")
    assert response.status_code == 302
    link = response.headers["Location"]
    assert link.startswith("/files/")
    file = client.get(link)
    assert file.status_code == 200
    assert file.headers["Content-Disposition"].startswith("attachment; filename=")
    assert job.file_name in file.headers["Content-Disposition"]
    return file.get_data()


def test_download_redirects_to_a_signed_link_that_serves_the_file(
    app: Flask, client: FlaskClient, contacts: Tenant, signed_in: User
) -> None:
    job = export_now(contacts, ["email"])
    body = download_via_local_link(app, client, job)
    assert body.decode().splitlines() == [
        "Email",
        "ada@example.com",
        "grace@example.com",
        "alan@example.org",
    ]


def test_local_link_expires_after_five_minutes(
    app: Flask,
    client: FlaskClient,
    contacts: Tenant,
    signed_in: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = export_now(contacts, ["email"])
    storage = app.extensions["storage"]
    now = time.time()
    monkeypatch.setattr(storage, "_clock", lambda: now)
    link = client.get(f"/exports/{job.id}/download").headers["Location"]
    monkeypatch.setattr(storage, "_clock", lambda: now + 299)
    assert client.get(link).status_code == 200
    monkeypatch.setattr(storage, "_clock", lambda: now + 300)
    expired = client.get(link)
    assert expired.status_code == 410
    assert "This download link has expired" in expired.get_data(as_text=True)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),
        lambda token: token[: len(token) // 2],
        lambda token: token.replace(".", "x", 1),
    ],
    ids=["signature", "cut-short", "payload"],
)
def test_tampered_local_link_is_refused(
    app: Flask, client: FlaskClient, contacts: Tenant, signed_in: User, tamper: Any
) -> None:
    job = export_now(contacts, ["email"])
    token = client.get(f"/exports/{job.id}/download").headers["Location"].removeprefix("/files/")
    response = client.get("/files/" + tamper(token))
    assert response.status_code == 404
    assert b"ada@example.com" not in response.get_data()


def test_not_ready_failed_and_expired_exports_say_so(
    app: Flask, client: FlaskClient, contacts: Tenant, signed_in: User
) -> None:
    job = created(client)
    pending = client.get(f"/exports/{job.id}/download")
    assert pending.status_code == 400
    assert "This export is not ready yet" in pending.get_data(as_text=True)

    job.status, job.failure_message = "failed", "Storage was down."
    db.session.commit()
    failed = client.get(f"/exports/{job.id}/download")
    assert failed.status_code == 400 and "Storage was down." in failed.get_data(as_text=True)

    done = export_now(contacts, ["email"])
    done.expires_at = utcnow() - timedelta(seconds=1)  # the clean-up has not run yet
    db.session.commit()
    expired = client.get(f"/exports/{done.id}/download")
    assert expired.status_code == 410
    assert "This export has expired" in expired.get_data(as_text=True)
    page = client.get(f"/exports/{done.id}").get_data(as_text=True)
    assert "expired" in page and "/download" not in page


def test_another_tenants_export_is_not_found(
    app: Flask, client: FlaskClient, contacts: Tenant, signed_in: User
) -> None:
    globex = db.session.scalar(select(Tenant).where(Tenant.name == "Globex"))
    theirs = export_now(globex, ["email"])
    for url in (f"/exports/{theirs.id}", f"/exports/{theirs.id}/download"):
        response = client.get(url)
        assert response.status_code == 404
        assert b"spy@globex.test" not in response.get_data()


# --- S3: presigned links ------------------------------------------------------------------


def s3_verdict(url: str, now: datetime) -> str:
    """What S3 does with a presigned GET: "expired", "bad signature" or "ok".

    The S3-protocol test server (moto) serves presigned URLs without checking them, so the
    check S3 makes (SigV4 query signature over method, path, query and expiry) is redone here
    with botocore and the test credentials.
    """
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    signature = query.pop("X-Amz-Signature")
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    expires = int(query["X-Amz-Expires"])
    if now >= signed_at + timedelta(seconds=expires):
        return "expired"
    params = {k: v for k, v in query.items() if not k.startswith("X-Amz-")}
    request = AWSRequest(
        method="GET",
        url=urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(params), "")),
    )
    credentials = Credentials("testing", "testing", query.get("X-Amz-Security-Token"))
    # botocore signs at the current second: sign at the link's own (it was flaky across one)
    with mock.patch(
        "botocore.auth.get_current_datetime", return_value=signed_at.replace(tzinfo=None)
    ):
        S3SigV4QueryAuth(credentials, "s3", S3_REGION, expires=expires).add_auth(request)
    recomputed = dict(parse_qsl(urlsplit(request.url).query))["X-Amz-Signature"]
    return "ok" if recomputed == signature else "bad signature"


@pytest.fixture
def on_s3(app: Flask, s3_server: str, s3_bucket: str) -> S3Storage:
    storage = S3Storage(s3_bucket, endpoint_url=s3_server, region=S3_REGION)
    app.extensions["storage"] = storage
    return storage


def test_s3_download_is_a_presigned_link_valid_five_minutes(
    app: Flask, client: FlaskClient, contacts: Tenant, signed_in: User, on_s3: S3Storage
) -> None:
    job = export_now(contacts, ["email"])
    before = datetime.now(UTC).replace(microsecond=0)
    link = client.get(f"/exports/{job.id}/download").headers["Location"]
    assert link.startswith(on_s3.endpoint_url) and job.file_url in link
    with urllib.request.urlopen(link) as response:
        assert response.read().decode().splitlines()[1] == "ada@example.com"
        assert job.file_name in response.headers["Content-Disposition"]
    assert dict(parse_qsl(urlsplit(link).query))["X-Amz-Expires"] == "300"
    assert s3_verdict(link, before + timedelta(seconds=290)) == "ok"
    assert s3_verdict(link, before + timedelta(seconds=302)) == "expired"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda url: url.replace("X-Amz-Expires=300", "X-Amz-Expires=604800"),
        lambda url: re.sub(
            r"/tenants/[^/]+/", "/tenants/00000000-0000-4000-8000-000000000000/", url
        ),
        lambda url: url.replace("response-content-disposition=", "response-content-disposition=x"),
    ],
    ids=["longer-expiry", "other-tenant-key", "other-name"],
)
def test_s3_tampered_link_fails_its_signature(
    app: Flask,
    client: FlaskClient,
    contacts: Tenant,
    signed_in: User,
    on_s3: S3Storage,
    tamper: Any,
) -> None:
    job = export_now(contacts, ["email"])
    link = client.get(f"/exports/{job.id}/download").headers["Location"]
    changed = tamper(link)
    assert changed != link
    assert s3_verdict(changed, datetime.now(UTC)) == "bad signature"


def test_job_page_says_how_long_the_file_stays_available_in_plain_words(
    client: FlaskClient, contacts: Tenant, signed_in: User
) -> None:
    def sentence(job: ExportJob) -> str:
        html = client.get(f"/exports/{job.id}").get_data(as_text=True)
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))

    done = export_now(contacts, ["email"])
    done.expires_at = utcnow() + timedelta(days=3, hours=1)
    db.session.commit()
    day = f"{done.expires_at.day} {done.expires_at:%b}"
    page = sentence(done)
    assert f"available for 3 more days, until {day}" in page
    assert "until in" not in page

    done.expires_at = utcnow() - timedelta(days=2)
    db.session.commit()
    assert "This export expired 2 days ago" in sentence(done)


def excel_box(client: FlaskClient) -> str:
    """The "For Excel" checkbox as the export form renders it."""
    html = client.get("/exports/new").get_data(as_text=True)
    match = re.search(r'<input[^>]*name="csv_for_excel"[^>]*>', html)
    assert match, "no For Excel checkbox"
    return match.group(0)


def test_csv_for_excel_starts_ticked_and_the_form_remembers_the_user_choice(
    app: Flask, client: FlaskClient, contacts: Tenant, signed_in: User, auth: Any
) -> None:
    assert "checked" in excel_box(client)  # never chose: files open right in Excel
    ticked = created(client, csv_for_excel="y")
    assert stored_bytes(app, run_export(ticked.id)).startswith(b"\xef\xbb\xbf")

    plain = created(client)  # the box unticked: a browser sends nothing for it
    assert plain.export_options == {"csv_for_excel": False}
    assert "checked" not in excel_box(client)
    auth.logout()
    auth.login(signed_in.email)
    assert "checked" not in excel_box(client)  # kept on the user, not in the browser

    created(client, file_format="xlsx", csv_for_excel="y")  # says nothing about CSV
    assert "checked" not in excel_box(client)
    created(client, csv_for_excel="y")
    assert "checked" in excel_box(client)


def test_the_api_still_makes_csv_without_a_byte_order_mark_by_default() -> None:
    schema = document()["components"]["schemas"]["ExportOptionsBody"]
    assert schema["properties"]["csvForExcel"]["default"] is False
