"""Tenant isolation: a user of tenant A gets 404 for every URL that names an object of tenant B.

Every route of the app must be listed here in one of the tables below, so a new route cannot
land without saying how it is isolated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import Contact, Tenant, User
from tests.conftest import AuthActions, make_tenant, make_user

SECRET = "globex-secret-value"


@dataclass
class Objects:
    """Objects that belong to tenant B."""

    contact: Contact


def make_objects(tenant: Tenant) -> Objects:
    contact = Contact(
        tenant_id=tenant.id,
        email=f"{SECRET}@globex.test",
        email_normalized=f"{SECRET}@globex.test",
        first_name=SECRET,
    )
    db.session.add(contact)
    db.session.commit()
    return Objects(contact=contact)


# endpoint -> (method, URL of tenant B's object)
OBJECT_ROUTES: dict[str, tuple[str, Callable[[Objects], str]]] = {
    "contacts.detail": ("GET", lambda o: f"/contacts/{o.contact.id}"),
}

# Routes that name no tenant object; they must still refuse anonymous visitors unless public.
PUBLIC_ROUTES = {"auth.login", "main.healthz", "static"}
SIGNED_LINK_ROUTES = {"files.download"}  # authorised by a signed, expiring token instead
TOKEN_ROUTES_PREFIX = "api."  # authorised by a bearer token (see the API tests)


def test_every_route_is_classified(app: Flask) -> None:
    known = set(OBJECT_ROUTES) | PUBLIC_ROUTES | SIGNED_LINK_ROUTES
    unclassified = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in known or rule.endpoint.startswith(TOKEN_ROUTES_PREFIX):
            continue
        if rule.arguments:
            unclassified.append(rule.rule)
    assert not unclassified, f"add these routes to OBJECT_ROUTES: {unclassified}"


def test_routes_without_objects_need_a_signed_in_user(app: Flask, client: FlaskClient) -> None:
    for rule in app.url_map.iter_rules():
        if rule.arguments or rule.endpoint in PUBLIC_ROUTES or rule.endpoint.startswith("api."):
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
    response = client.open(url(other), method=method)
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
    assert client.open(url(own), method=method).status_code == 200
