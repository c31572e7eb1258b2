"""Signed download links (local storage): tampered, expired or another tenant's link refused.

Both kinds of file the app hands out are covered: an export and an import's error report.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import ApiToken, Tenant, User
from app.storage import LocalStorage, object_key
from tests.conftest import AuthActions, make_tenant, make_user

CONTENT = b"Email\nsecret-row@acme.test\n"
KINDS = {"export": "exports", "error report": "error-reports"}


def stored_link(app: Flask, tenant: Tenant, kind: str, **options: object) -> str:
    """Store a file of `tenant` and return the signed link the app would hand out for it."""
    storage: LocalStorage = app.extensions["storage"]
    key = object_key(tenant.id, KINDS[kind], ".csv")
    storage.save(key, io.BytesIO(CONTENT))
    return storage.signed_url(key, download_name=f"{kind}.csv", **options)  # type: ignore[arg-type]


def api_token(user: User) -> str:
    token, raw = ApiToken.issue(user)
    db.session.add(token)
    db.session.commit()
    return raw


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_owner_downloads_the_file(
    app: Flask, client: FlaskClient, tenant: Tenant, signed_in: User, kind: str
) -> None:
    response = client.get(stored_link(app, tenant, kind))
    assert response.status_code == 200
    assert response.get_data() == CONTENT
    assert f"{kind}.csv" in response.headers["Content-Disposition"]


TAMPERINGS: dict[str, Callable[[str], str]] = {
    "signature": lambda t: t[:-3] + ("AAA" if not t.endswith("AAA") else "BBB"),
    "cut-short": lambda t: t[: len(t) // 2],
    "payload": lambda t: t.replace(t[2], "A" if t[2] != "A" else "B", 1),
    "other-secret": lambda t: (
        LocalStorage("/unused", "another-secret-" + "y" * 32)
        .signed_url("tenants/x/exports/2024/01/a.csv")
        .removeprefix("/files/")
    ),
}


@pytest.mark.parametrize("tamper", sorted(TAMPERINGS))
def test_tampered_link_is_refused(
    app: Flask, client: FlaskClient, tenant: Tenant, signed_in: User, kind: str, tamper: str
) -> None:
    token = stored_link(app, tenant, kind).removeprefix("/files/")
    changed = TAMPERINGS[tamper](token)
    assert changed != token
    response = client.get("/files/" + changed)
    assert response.status_code == 404
    assert CONTENT not in response.get_data()


def test_expired_link_is_refused(
    app: Flask,
    client: FlaskClient,
    tenant: Tenant,
    signed_in: User,
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = app.extensions["storage"]
    now = time.time()
    monkeypatch.setattr(storage, "_clock", lambda: now)
    link = stored_link(app, tenant, kind, expires_in=300)
    monkeypatch.setattr(storage, "_clock", lambda: now + 299)
    assert client.get(link).status_code == 200
    monkeypatch.setattr(storage, "_clock", lambda: now + 300)
    expired = client.get(link)
    assert expired.status_code == 410
    assert "This download link has expired" in expired.get_data(as_text=True)
    assert CONTENT not in expired.get_data()


def test_another_tenants_link_is_refused_to_a_signed_in_user(
    app: Flask, client: FlaskClient, auth: AuthActions, tenant: Tenant, kind: str
) -> None:
    link = stored_link(app, tenant, kind)  # Acme's file
    globex = make_tenant("Globex")
    make_user(globex, "hank@globex.test")
    auth.login("hank@globex.test")
    response = client.get(link)
    assert response.status_code == 404
    assert CONTENT not in response.get_data()


def test_another_tenants_link_is_refused_to_an_api_token(
    app: Flask, client: FlaskClient, tenant: Tenant, user: User, kind: str
) -> None:
    link = stored_link(app, tenant, kind)
    hank = make_user(make_tenant("Globex"), "hank@globex.test")
    theirs = client.get(link, headers={"Authorization": f"Bearer {api_token(hank)}"})
    assert theirs.status_code == 404
    assert CONTENT not in theirs.get_data()
    bad = client.get(link, headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    ours = client.get(link, headers={"Authorization": f"Bearer {api_token(user)}"})
    assert ours.status_code == 200 and ours.get_data() == CONTENT


def test_link_alone_is_not_enough_without_signing_in(
    app: Flask, client: FlaskClient, tenant: Tenant, user: User, kind: str
) -> None:
    link = stored_link(app, tenant, kind)
    response = client.get(link)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert CONTENT not in response.get_data()
