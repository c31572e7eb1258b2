"""The OpenAPI document is valid, served as it is, covers every route, and the docs page shows it."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from app.models import User
from app.web.api.openapi import document

UNDOCUMENTED = {"api.docs"}  # the HTML rendering of the document itself


def test_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_document_is_served_without_a_token(client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == document()


def test_every_api_route_is_documented_and_every_documented_path_exists(app: Flask) -> None:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint in UNDOCUMENTED:
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((method.lower(), path))
    doc = document()
    documented = {
        (method, re.sub(r"\{[^}]+\}", "{}", path))
        for path, item in doc["paths"].items()
        for method in item
    }
    assert {(m, re.sub(r"\{[^}]+\}", "{}", p)) for m, p in routes} == documented


def test_docs_page_lists_every_operation_and_schema_with_local_assets_only(
    client: FlaskClient,
) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    doc = document()
    for path, item in doc["paths"].items():
        for operation in item.values():
            assert f'id="{operation["operationId"]}"' in html
        assert f"<code>{path}</code>" in html
    for name in doc["components"]["schemas"]:
        assert f'id="schema-{name}"' in html
    assert "Idempotency-Key" in html and "Retry-After" in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith(("/", "#")) for a in assets), assets


def test_the_navigation_links_to_the_api_docs(client: FlaskClient, signed_in: User) -> None:
    html = client.get("/").get_data(as_text=True)
    assert 'href="/api/docs"' in html
