"""CSRF on every state-changing route and form, the session cookie, and the security headers."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from app import create_app
from app.config import load_settings
from app.models import Tenant, User
from tests.conftest import PASSWORD, AuthActions, csrf_token, make_env
from tests.web.test_cross_tenant import PROBES, Objects, Probe, make_objects, tenant_state

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
NON_FORM_BLUEPRINTS = ("api",)  # bearer tokens, no cookies: CSRF does not apply


def _probe_for(endpoint: str, method: str) -> Probe | None:
    return next(
        (p for p in PROBES if (p.endpoint, p.method, p.auth) == (endpoint, method, "session")),
        None,
    )


def _url(rule: Rule, method: str, objects: Objects) -> tuple[str, dict[str, Any]]:
    """A URL for the rule naming the tenant's own objects, with the form fields it takes."""
    probe = _probe_for(rule.endpoint, method)
    if probe is not None:
        return probe.url(objects), probe.data(objects)
    assert not rule.arguments, f"add a session probe for {method} {rule.rule} to PROBES"
    return rule.rule, {}


def _state_changing_rules(app: Flask) -> list[tuple[Rule, str]]:
    rules = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in NON_FORM_BLUEPRINTS:
            continue
        for method in sorted((rule.methods or set()) & STATE_CHANGING):
            rules.append((rule, method))
    return rules


def test_every_state_changing_route_refuses_a_request_without_csrf_token(
    app: Flask, client: FlaskClient, auth: AuthActions, tenant: Tenant, user: User
) -> None:
    objects = make_objects(tenant)  # the user's own: without CSRF these posts would work
    auth.login(user.email)
    rules = _state_changing_rules(app)
    assert len(rules) >= 10, rules  # the enumeration found the app's forms
    for rule, method in rules:
        url, data = _url(rule, method, objects)
        before = tenant_state(tenant.id)
        for headers in ({}, {"HX-Request": "true"}, {"X-CSRFToken": "forged-token"}):
            response = client.open(url, method=method, data=data, headers=headers)
            assert response.status_code == 400, f"{method} {url} {headers}"
            assert "The form expired or was sent from another site" in response.get_data(
                as_text=True
            )
            assert tenant_state(tenant.id) == before, f"{method} {url} changed data"
        assert client.get("/").status_code == 200, f"{method} {url} signed the user out"


class FormParser(HTMLParser):
    """Collects each form (method, action, hidden csrf_token) and each hx-post/put/... element."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.open_forms: list[dict[str, Any]] = []
        self.htmx_posts: list[tuple[str, bool]] = []  # (what, inside a form with a token)
        self.body_headers = ""
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body_headers = a.get("hx-headers", "")
        if tag == "form":
            form = {"method": a.get("method", "get").lower(), "action": a.get("action", "")}
            form["token"] = ""
            self.forms.append(form)
            self.open_forms.append(form)
        if tag == "input" and a.get("name") == "csrf_token" and self.open_forms:
            self.open_forms[-1]["token"] = a.get("value", "")
        if any(k in a for k in ("hx-post", "hx-put", "hx-patch", "hx-delete")):
            self.htmx_posts.append((f"<{tag} {a}>", bool(self.open_forms)))
        if tag == "script" and not a.get("src"):
            self.inline.append("inline <script>")
        for name, value in a.items():
            if name == "style" or name.startswith("on") or value.strip().startswith("javascript:"):
                self.inline.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.open_forms:
            self.open_forms.pop()


def _rendered_pages(app: Flask, client: FlaskClient, objects: Objects) -> dict[str, str]:
    """Every GET page and partial the signed-in user can open, with the tenant's objects."""
    pages = {}
    probes = {(p.endpoint, p.htmx): p for p in PROBES if p.method == "GET" and p.auth == "session"}
    for rule in app.url_map.iter_rules():
        endpoint = rule.endpoint
        if "GET" not in (rule.methods or ()) or endpoint.startswith(("api.", "static", "files.")):
            continue
        if endpoint in ("main.healthz", "main.favicon", "auth.login"):
            continue
        for htmx in (False, True):
            probe = probes.get((endpoint, htmx)) or probes.get((endpoint, False))
            if probe is not None:
                url = probe.url(objects)
            elif not rule.arguments:
                url = rule.rule
            else:
                raise AssertionError(f"no GET probe for {rule.rule}")
            response = client.get(url, headers={"HX-Request": "true"} if htmx else {})
            assert response.status_code < 500, url
            if response.status_code in (302, 303):
                response = client.get(response.headers["Location"])
            if response.mimetype == "text/html":
                pages[f"{url} htmx={htmx}"] = response.get_data(as_text=True)
    return pages


def test_every_post_form_on_every_page_carries_the_csrf_token(
    app: Flask, client: FlaskClient, auth: AuthActions, tenant: Tenant, user: User
) -> None:
    objects = make_objects(tenant)
    auth.login(user.email)
    pages = _rendered_pages(app, client, objects)
    pages["/login (signed out)"] = ""
    checked_forms = 0
    for url, html in pages.items():
        parser = FormParser()
        parser.feed(html)
        for form in parser.forms:
            if form["method"] == "post":
                checked_forms += 1
                assert len(form["token"]) > 20, f"{url}: form {form['action']} has no CSRF token"
        for what, in_form in parser.htmx_posts:
            assert in_form or "X-CSRFToken" in parser.body_headers, f"{url}: {what}"
        if "<body" in html:
            assert "X-CSRFToken" in parser.body_headers, f"{url}: htmx requests carry no token"
        assert not parser.inline, f"{url}: inline code the CSP blocks: {parser.inline}"
    assert checked_forms >= 10, checked_forms
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login = FormParser()
    login.feed(client.get("/login").get_data(as_text=True))
    assert [f["method"] for f in login.forms] == ["post"] and login.forms[0]["token"]


# --- the session cookie ---------------------------------------------------------------------


def _cookie(response: Any, name: str) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]
    assert cookies, f"no {name} cookie set"
    return cookies[-1]


def production_env(tmp_path: Path, pg_url: str, redis_url: str) -> dict[str, str]:
    return make_env(
        tmp_path, pg_url, redis_url, APP_ENV="production", PUBLIC_URL="https://contacts.example.com"
    )


def test_production_config_makes_the_cookies_secure_httponly_and_lax(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    settings = load_settings(production_env(tmp_path, pg_url, redis_url))
    for cookie in ("SESSION", "REMEMBER"):
        assert settings[f"{cookie}_COOKIE_SECURE"] is True
        assert settings[f"{cookie}_COOKIE_HTTPONLY"] is True
        assert settings[f"{cookie}_COOKIE_SAMESITE"] == "Lax"
    development = load_settings(make_env(tmp_path, pg_url, redis_url, APP_ENV="development"))
    assert development["SESSION_COOKIE_SECURE"] is False  # a laptop serves plain http


def test_production_sign_in_sets_secure_cookies(
    app: Flask, user: User, tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    production = create_app({"ENV": production_env(tmp_path, pg_url, redis_url)})
    client = production.test_client()
    token = csrf_token(client, "/login")
    page = client.get("/login")
    assert "Strict-Transport-Security" in page.headers
    response = client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": token, "remember": "y"},
    )
    assert response.status_code == 302
    for name in ("session", "cio_remember"):
        flags = [part.strip().lower() for part in _cookie(response, name).split(";")]
        assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags, flags


# --- security headers on every response -----------------------------------------------------


def _csp(value: str) -> dict[str, list[str]]:
    directives = {}
    for part in value.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


@pytest.fixture
def responses(
    app: Flask, client: FlaskClient, auth: AuthActions, tenant: Tenant, user: User
) -> dict[str, Any]:
    """One response of every kind the app sends."""
    objects = make_objects(tenant)
    out = {"sign-in page": client.get("/login"), "health": client.get("/healthz")}
    out["anonymous redirect"] = client.get("/")
    out["api 401"] = client.get("/api/me")
    out["csrf refusal"] = client.post("/login", data={"email": "x@y.z", "password": "p"})
    out["static"] = client.get("/static/vendor/htmx-2.0.11.min.js")
    auth.login(user.email)
    out["page"] = client.get("/")
    out["partial"] = client.get(f"/imports/{objects.running.id}", headers={"HX-Request": "true"})
    out["not found"] = client.get("/contacts/00000000-0000-4000-8000-000000000000")
    out["file download"] = client.get(objects.file_link)
    out["csv download"] = client.get(f"/imports/{objects.finished.id}/error-report")
    return out


def test_every_response_sends_the_security_headers(responses: dict[str, Any]) -> None:
    for kind, response in responses.items():
        assert response.status_code < 500, kind
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff", kind
        assert headers["X-Frame-Options"] == "DENY", kind
        assert headers["Referrer-Policy"] in ("same-origin", "no-referrer"), kind
        csp = _csp(headers["Content-Security-Policy"])
        assert csp["default-src"] == ["'self'"], kind
        assert csp["frame-ancestors"] == ["'none'"], kind
        assert csp["object-src"] == ["'none'"], kind
        assert csp["base-uri"] == ["'self'"] and csp["form-action"] == ["'self'"], kind
        for directive in ("script-src", "style-src", "connect-src", "font-src"):
            assert csp[directive] == ["'self'"], (kind, directive)  # no inline, no eval
        assert set(csp["img-src"]) <= {"'self'", "data:"}, kind


def test_htmx_is_configured_to_need_no_inline_styles_or_eval(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert '"includeIndicatorStyles": false' in page
    assert '"allowEval": false' in page
