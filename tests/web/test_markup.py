"""Every page a user reaches renders clean markup: no attribute reads the text None."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from app.extensions import db
from app.models import Contact, Tenant, User
from tests.conftest import AuthActions, csrf_token
from tests.exports.conftest import export_now, person
from tests.web.test_wizard import LEADS, draft_of, options_form, post, through_mapping, upload, work

NONE_ATTRIBUTE = re.compile(r'[\w-]+="None"')


def none_attributes(html: str) -> list[str]:
    """The attributes of a page whose value is the text None."""
    return NONE_ATTRIBUTE.findall(html)


def test_the_sign_in_page_has_no_none_attributes(client: FlaskClient, user: User) -> None:
    assert none_attributes(client.get("/login").get_data(as_text=True)) == []
    token = csrf_token(client, "/login")
    wrong = client.post(
        "/login", data={"email": user.email, "password": "wrong", "csrf_token": token}
    )
    html = wrong.get_data(as_text=True)
    assert 'aria-invalid="true"' in html and none_attributes(html) == []


def test_every_signed_in_page_has_no_none_attributes(
    client: FlaskClient, auth: AuthActions, user: User, tenant: Tenant
) -> None:
    person(tenant, "ada@example.com", first_name="Ada", tags=("vip",), segments=("Warm leads",))
    export = export_now(tenant)
    assert auth.login(user.email).status_code == 302

    draft = draft_of(upload(client, LEADS))
    done = draft_of(upload(client, LEADS))
    through_mapping(client, done)
    post(client, f"/imports/{done.id}/options", {**options_form(), "action": "continue"})
    work()
    post(client, f"/imports/{done.id}/start", {})
    work()
    contact = db.session.scalar(db.select(Contact).where(Contact.tenant_id == tenant.id))
    assert contact is not None

    pages = [
        "/",
        "/account",
        "/contacts/",
        f"/contacts/{contact.id}",
        "/contacts/segments",
        "/exports/new",
        f"/exports/{export.id}",
        "/imports/new",
        f"/imports/{draft.id}/file",
        f"/imports/{draft.id}/mapping",
        f"/imports/{done.id}",
        "/history",
        f"/history/imports/{done.id}",
        f"/history/imports/{done.id}/rollback",
        "/notifications/",
    ]
    found = {}
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        found[url] = none_attributes(response.get_data(as_text=True))

    through_mapping(client, draft, Town="ignore")  # "done" created the field a new one would
    for url in (f"/imports/{draft.id}/options", f"/imports/{draft.id}/confirm"):
        response = client.get(url)
        assert response.status_code == 200, url
        found[url] = none_attributes(response.get_data(as_text=True))
    refused = client.post(
        "/exports/new",
        data={"csrf_token": csrf_token(client, "/exports/new"), "action": "create"},
    )
    assert refused.status_code == 400
    found["/exports/new (refused)"] = none_attributes(refused.get_data(as_text=True))

    assert {url: attrs for url, attrs in found.items() if attrs} == {}
