"""Tenant isolation: a visitor of tenant A never reads nor changes anything of tenant B.

Every route of the app is classified here. A route whose URL names an object must have a probe
for each of its methods in PROBES: tenant A's visitor (a signed-in user, or an API token for
`auth="token"` probes) asks for tenant B's object and gets 404, with none of B's names, emails,
file names or ids in the body, and nothing of B changed (every row of B, every stored file).
Pages that name no object in their URL are probed too, where a query or form field can name
one of B's objects (a segment, a tag) or where they list the tenant's things.

An API endpoint is covered by one more entry, e.g.
    Probe("api.contact", "GET", lambda o: f"/api/contacts/{o.contact.id}", auth="token"),
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.imports.options import ImportOptions
from app.imports.service import store_upload
from app.models import (
    ApiToken,
    Contact,
    CustomField,
    ExportJob,
    ImportJob,
    Notification,
    Segment,
    Tag,
    Tenant,
    User,
)
from app.models.types import utcnow
from app.storage import object_key
from tests.conftest import AuthActions, csrf_token, make_tenant, make_user

SECRET = "globex-secret-value"
OWNER_EMAIL = "hank@globex.test"
TAG = "platinum-globex"  # tags are named, not numbered, in URLs: A may type B's tag name


@dataclass
class Objects:
    """Objects that belong to tenant B, one of every kind a URL or a form can name."""

    tenant: Tenant
    contact: Contact
    tag: Tag
    segment: Segment
    custom_field: CustomField
    export: ExportJob
    file_link: str
    draft: ImportJob
    running: ImportJob
    finished: ImportJob
    note: Notification

    def distinctive(self) -> list[str]:
        """Strings that only B's data holds: one in A's response (unless A sent it), a leak."""
        ids = [
            str(o.id)
            for o in (
                self.tenant,
                self.contact,
                self.tag,
                self.segment,
                self.custom_field,
                self.export,
                self.draft,
                self.running,
                self.finished,
                self.note,
            )
        ]
        names = [self.contact.email, self.segment.name, self.custom_field.label, self.tag.name]
        return [SECRET, self.tenant.name, OWNER_EMAIL, self.file_link, *names, *ids]


def _import(tenant: Tenant, status: str) -> ImportJob:
    """An import of tenant B, with its file stored: a wizard draft, a running or finished one."""
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
        total_rows=1,
        error_count=1 if status == "completed" else 0,
        errors=[{"row": 2, "error": f"{SECRET} refused"}] if status == "completed" else None,
        error_report_key=key if status == "completed" else None,
        started_at=utcnow() if status != "draft" else None,
    )
    db.session.add(job)
    db.session.commit()
    return job


def _export(tenant: Tenant) -> ExportJob:
    """A finished export of tenant B, with its file stored."""
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
    """Tenant B's objects of every kind, all named after SECRET."""
    tag = Tag(tenant_id=tenant.id, name=TAG, name_normalized=TAG)
    segment = Segment(tenant_id=tenant.id, name=f"{SECRET}-segment")
    custom = CustomField(tenant_id=tenant.id, key="globex_code", label=f"{SECRET}-field")
    contact = Contact(
        tenant_id=tenant.id,
        email=f"{SECRET}@globex.test",
        email_normalized=f"{SECRET}@globex.test",
        first_name=SECRET,
        custom_fields={"globex_code": SECRET},
        tags=[tag],
        segments=[segment],
    )
    note = Notification(tenant_id=tenant.id, kind="import", message=SECRET)
    db.session.add_all([tag, segment, custom, contact, note])
    db.session.commit()
    export = _export(tenant)
    link = current_app.extensions["storage"].signed_url(export.file_url, download_name="x.csv")
    return Objects(
        tenant=tenant,
        contact=contact,
        tag=tag,
        segment=segment,
        custom_field=custom,
        export=export,
        file_link=link,
        draft=_import(tenant, "draft"),
        running=_import(tenant, "processing"),
        finished=_import(tenant, "completed"),
        note=note,
    )


@dataclass(frozen=True)
class Probe:
    """One request a visitor of tenant A makes that names or lists tenant B's objects."""

    endpoint: str
    method: str
    url: Callable[[Objects], str]
    data: Callable[[Objects], dict[str, Any]] = field(default=lambda o: {})
    htmx: bool = False
    auth: str = "session"  # "session": a signed-in user; "token": an API bearer token
    status: int = 404  # what A gets; a page that names no object answers A with its own data
    owner_sees_secret: bool = False  # B's own visitor gets B's data from the same request

    @property
    def id(self) -> str:
        return f"{self.endpoint}:{self.method}{'+htmx' if self.htmx else ''}:{self.auth}"


def _mapping(o: Objects) -> dict[str, Any]:
    return {"map-0": "email", "action": "continue"}


PROBES: list[Probe] = [
    # contacts, tags, segments, custom fields
    Probe("contacts.detail", "GET", lambda o: f"/contacts/{o.contact.id}", owner_sees_secret=True),
    Probe(
        "contacts.index",
        "GET",
        lambda o: f"/contacts/?tag={o.tag.name}&q=globex",
        status=200,
        owner_sees_secret=True,
    ),
    Probe(
        "contacts.index",
        "GET",
        lambda o: f"/contacts/?tag={o.tag.name}&q=globex",
        htmx=True,
        status=200,
        owner_sees_secret=True,
    ),
    Probe("contacts.segments", "GET", lambda o: "/contacts/segments", status=200),
    # exports and their files
    Probe("exports.detail", "GET", lambda o: f"/exports/{o.export.id}", owner_sees_secret=True),
    Probe("exports.detail", "GET", lambda o: f"/exports/{o.export.id}", htmx=True),
    Probe("exports.download", "GET", lambda o: f"/exports/{o.export.id}/download"),
    Probe("files.download", "GET", lambda o: o.file_link, owner_sees_secret=True),
    Probe("files.download", "GET", lambda o: o.file_link, auth="token", owner_sees_secret=True),
    Probe(
        "exports.new",
        "GET",
        lambda o: f"/exports/new?segment={o.segment.id}&tag={o.tag.name}",
        status=200,
        owner_sees_secret=True,
    ),
    Probe(
        "exports.new",
        "POST",
        lambda o: "/exports/new",
        data=lambda o: {
            "scope": "segment",
            "segment": str(o.segment.id),
            "tags": o.tag.name,
            "fields": ["email", "custom:globex_code"],
            "conditions-0-field": "custom:globex_code",
            "conditions-0-op": "not_empty",
            "file_format": "csv",
        },
        status=400,
    ),
    Probe(
        "exports.count",
        "GET",
        lambda o: f"/exports/count?scope=segment&segment={o.segment.id}&tags={o.tag.name}",
        status=200,
    ),
    # the import wizard on a draft
    Probe("wizard.source", "GET", lambda o: f"/imports/{o.draft.id}/file", owner_sees_secret=True),
    Probe("wizard.source", "POST", lambda o: f"/imports/{o.draft.id}/file"),
    Probe("wizard.source", "POST", lambda o: f"/imports/{o.draft.id}/file", htmx=True),
    Probe("wizard.mapping", "GET", lambda o: f"/imports/{o.draft.id}/mapping"),
    Probe("wizard.mapping", "POST", lambda o: f"/imports/{o.draft.id}/mapping", data=_mapping),
    Probe(
        "wizard.mapping",
        "POST",
        lambda o: f"/imports/{o.draft.id}/mapping",
        data=_mapping,
        htmx=True,
    ),
    Probe("wizard.options", "GET", lambda o: f"/imports/{o.draft.id}/options"),
    Probe(
        "wizard.options",
        "POST",
        lambda o: f"/imports/{o.draft.id}/options",
        data=lambda o: {"duplicate_strategy": "update", "tags": o.tag.name},
    ),
    Probe("wizard.confirm", "GET", lambda o: f"/imports/{o.draft.id}/confirm"),
    Probe("wizard.dry_run", "GET", lambda o: f"/imports/{o.draft.id}/dry-run"),
    Probe("wizard.dry_run", "GET", lambda o: f"/imports/{o.draft.id}/dry-run", htmx=True),
    Probe("wizard.dry_run", "POST", lambda o: f"/imports/{o.draft.id}/dry-run"),
    Probe(
        "wizard.dry_run_errors",
        "GET",
        lambda o: f"/imports/{o.draft.id}/dry-run/errors.csv",
    ),
    Probe("wizard.review", "GET", lambda o: f"/imports/{o.draft.id}/review"),
    Probe("wizard.save_review_page", "POST", lambda o: f"/imports/{o.draft.id}/review"),
    Probe("wizard.save_review_row", "POST", lambda o: f"/imports/{o.draft.id}/review/row"),
    Probe(
        "wizard.save_review_row",
        "POST",
        lambda o: f"/imports/{o.draft.id}/review/row",
        htmx=True,
    ),
    Probe("wizard.review_bulk", "POST", lambda o: f"/imports/{o.draft.id}/review/bulk"),
    Probe("wizard.start_follow_up", "POST", lambda o: f"/imports/{o.draft.id}/review/start"),
    Probe("wizard.follow_up", "POST", lambda o: f"/imports/{o.finished.id}/follow-up"),
    Probe("wizard.start", "POST", lambda o: f"/imports/{o.draft.id}/start"),
    Probe("wizard.discard", "POST", lambda o: f"/imports/{o.draft.id}/discard"),
    # a running and a finished import
    Probe("wizard.job", "GET", lambda o: f"/imports/{o.running.id}", owner_sees_secret=True),
    Probe("wizard.job", "GET", lambda o: f"/imports/{o.running.id}", htmx=True),
    Probe(
        "wizard.cancel", "GET", lambda o: f"/imports/{o.running.id}/cancel", owner_sees_secret=True
    ),
    Probe("wizard.cancel", "GET", lambda o: f"/imports/{o.running.id}/cancel", htmx=True),
    Probe("wizard.cancel", "POST", lambda o: f"/imports/{o.running.id}/cancel"),
    Probe("wizard.cancel", "POST", lambda o: f"/imports/{o.running.id}/cancel", htmx=True),
    Probe(
        "wizard.error_report",
        "GET",
        lambda o: f"/imports/{o.finished.id}/error-report",
        owner_sees_secret=True,
    ),
    Probe(
        "history.import_detail",
        "GET",
        lambda o: f"/history/imports/{o.finished.id}",
        owner_sees_secret=True,
    ),
    Probe("history.import_detail", "GET", lambda o: f"/history/imports/{o.finished.id}", htmx=True),
    Probe("history.rollback", "GET", lambda o: f"/history/imports/{o.finished.id}/rollback"),
    Probe(
        "history.rollback",
        "POST",
        lambda o: f"/history/imports/{o.finished.id}/rollback",
        data=lambda o: {"force": "yes"},
    ),
    Probe(
        "history.index",
        "GET",
        lambda o: "/history?kind=all",
        status=200,
        owner_sees_secret=True,
    ),
    Probe(
        "history.index",
        "GET",
        lambda o: "/history?kind=all",
        htmx=True,
        status=200,
        owner_sees_secret=True,
    ),
    # notifications and the dashboard
    Probe("notifications.open_note", "GET", lambda o: f"/notifications/{o.note.id}", status=404),
    Probe(
        "notifications.index",
        "GET",
        lambda o: "/notifications/",
        status=200,
        owner_sees_secret=True,
    ),
    Probe(
        "notifications.mark_all_read",
        "POST",
        lambda o: "/notifications/read",
        status=303,
    ),
    Probe("main.dashboard", "GET", lambda o: "/", status=200, owner_sees_secret=True),
    # the JSON API, with a bearer token
    Probe("api.me", "GET", lambda o: "/api/me", auth="token", status=200),
    # the JSON API: B's objects named in the URL, and in the list filters
    Probe("api.get_import", "GET", lambda o: f"/api/contacts/import/{o.finished.id}", auth="token"),
    Probe(
        "api.rollback_import",
        "POST",
        lambda o: f"/api/contacts/import/{o.finished.id}/rollback",
        auth="token",
    ),
    Probe(
        "api.cancel_import",
        "POST",
        lambda o: f"/api/contacts/import/{o.running.id}/cancel",
        auth="token",
    ),
    Probe(
        "api.import_errors",
        "GET",
        lambda o: f"/api/contacts/import/{o.finished.id}/errors",
        auth="token",
    ),
    Probe(
        "api.correct_rows",
        "POST",
        lambda o: f"/api/contacts/import/{o.finished.id}/corrections",
        auth="token",
    ),
    Probe(
        "api.start_follow_up",
        "POST",
        lambda o: f"/api/contacts/import/{o.finished.id}/follow-up",
        auth="token",
    ),
    Probe("api.get_export", "GET", lambda o: f"/api/contacts/export/{o.export.id}", auth="token"),
    Probe(
        "api.download_export",
        "GET",
        lambda o: f"/api/contacts/export/{o.export.id}/download",
        auth="token",
    ),
    Probe("api.get_contact", "GET", lambda o: f"/api/contacts/{o.contact.id}", auth="token"),
    Probe(
        "api.list_contacts",
        "GET",
        lambda o: f"/api/contacts?segmentId={o.segment.id}",
        auth="token",
        status=200,
    ),
    Probe(
        "api.list_contacts",
        "GET",
        lambda o: f"/api/contacts?email={o.contact.email}",
        auth="token",
        status=200,
    ),
    Probe("api.list_imports", "GET", lambda o: "/api/contacts/imports", auth="token", status=200),
    Probe("api.list_exports", "GET", lambda o: "/api/contacts/exports", auth="token", status=200),
]

# Routes that name no tenant object; they must still refuse anonymous visitors unless public.
PUBLIC_ROUTES = {
    "auth.login",
    "main.healthz",
    "main.favicon",
    "static",
    "api.openapi_json",
    "api.docs",
}
TOKEN_ROUTES_PREFIX = "api."  # authorised by a bearer token (see the API tests)


def test_every_route_with_an_object_is_probed_for_each_method(app: Flask) -> None:
    probed = {(p.endpoint, p.method) for p in PROBES}
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.arguments or rule.endpoint in PUBLIC_ROUTES:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if (rule.endpoint, method) not in probed:
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    assert not missing, f"add probes to PROBES for: {missing}"


def test_routes_without_objects_need_a_signed_in_user(app: Flask, client: FlaskClient) -> None:
    for rule in app.url_map.iter_rules():
        if (
            rule.arguments
            or rule.endpoint in PUBLIC_ROUTES
            or rule.endpoint.startswith(TOKEN_ROUTES_PREFIX)
        ):
            continue
        method = "GET" if "GET" in (rule.methods or ()) else "POST"
        response = client.open(rule.rule, method=method)
        assert response.status_code in (302, 400, 401), rule.rule
        if response.status_code == 302:
            assert response.headers["Location"].startswith("/login"), rule.rule


def tenant_state(tenant_id: Any) -> dict[str, Any]:
    """Every row of the tenant (and every row of the tables without a tenant), and its files."""
    db.session.expire_all()
    state: dict[str, Any] = {}
    for table in db.metadata.sorted_tables:
        stmt = select(table)
        if "tenant_id" in table.c:
            stmt = stmt.where(table.c.tenant_id == tenant_id)
        elif table.name in ("tenants",):
            stmt = stmt.where(table.c.id == tenant_id)
        state[table.name] = sorted(repr(tuple(row)) for row in db.session.execute(stmt))
    root = current_app.extensions["storage"].root / "tenants" / str(tenant_id)
    state["files"] = sorted(
        (str(p.relative_to(root)), p.read_bytes()) for p in root.rglob("*") if p.is_file()
    )
    return state


def _visit(client: FlaskClient, probe: Probe, objects: Objects, visitor: User) -> Any:
    """Send the probe's request as `visitor`, the way a browser or an API client would."""
    headers: dict[str, str] = {}
    if probe.auth == "token":
        token, raw = ApiToken.issue(visitor)
        db.session.add(token)
        db.session.commit()
        headers["Authorization"] = f"Bearer {raw}"
    elif probe.method != "GET":
        headers["X-CSRFToken"] = csrf_token(client, "/")
    if probe.htmx:
        headers["HX-Request"] = "true"
    return client.open(
        probe.url(objects), method=probe.method, data=probe.data(objects), headers=headers
    )


def _sign_in(auth: AuthActions, probe: Probe, user: User) -> None:
    if probe.auth == "session":
        assert auth.login(user.email).status_code == 302


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.id)
def test_visitor_of_another_tenant_gets_nothing_and_changes_nothing(
    probe: Probe, client: FlaskClient, auth: AuthActions, user: User
) -> None:
    globex = make_tenant("Globex")
    make_user(globex, OWNER_EMAIL)
    other = make_objects(globex)
    _sign_in(auth, probe, user)
    before = tenant_state(globex.id)

    response = _visit(client, probe, other, user)

    assert response.status_code == probe.status
    body = response.get_data(as_text=True) + response.headers.get("Location", "")
    sent = probe.url(other) + repr(probe.data(other))
    leaked = [s for s in other.distinctive() if s in body and s not in sent]
    assert not leaked, f"tenant B's data in the response: {leaked}"
    assert tenant_state(globex.id) == before


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.id)
def test_owner_reaches_the_same_request(
    probe: Probe, client: FlaskClient, auth: AuthActions
) -> None:
    """The probes name real objects: B's own visitor gets past the tenant check."""
    globex = make_tenant("Globex")
    hank = make_user(globex, OWNER_EMAIL)
    own = make_objects(globex)
    _sign_in(auth, probe, hank)
    response = _visit(client, probe, own, hank)
    assert response.status_code not in (404, 405) and response.status_code < 500
    if probe.owner_sees_secret:
        if response.status_code in (302, 303):
            response = client.get(response.headers["Location"])
        assert SECRET.encode() in response.get_data()


class _Ghost:
    """Stands in for an object that does not exist: only a random id."""

    def __init__(self) -> None:
        self.id = uuid.uuid4()
        self.email = f"ghost-{self.id.hex[:8]}@nowhere.test"


@pytest.mark.parametrize(
    "probe",
    [p for p in PROBES if p.auth == "token" and p.endpoint.startswith("api.") and p.status == 404],
    ids=lambda p: p.id,
)
def test_api_answers_another_tenants_object_exactly_like_a_missing_one(
    probe: Probe, client: FlaskClient, user: User
) -> None:
    other = make_objects(make_tenant("Globex"))
    ghosts = Objects(**{name: _Ghost() for name in Objects.__dataclass_fields__})  # type: ignore[arg-type]
    foreign = _visit(client, probe, other, user)
    missing = _visit(client, probe, ghosts, user)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_json() == missing.get_json()
