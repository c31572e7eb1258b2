"""The OpenAPI document is valid, served as it is, covers every route, and the docs page shows it;
its answer schemas are the models of `response_models.py`."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from pydantic import BaseModel, Field

from app.models import User
from app.web.api import response_models
from app.web.api.openapi import document, response_schemas

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


@pytest.mark.parametrize("model", response_models.COMPONENTS, ids=lambda m: m.__name__)
def test_each_answer_model_and_its_schema_in_the_served_document_agree(
    client: FlaskClient, model: type[BaseModel]
) -> None:
    schema = client.get("/api/openapi.json").get_json()["components"]["schemas"][model.__name__]
    fields = {f.alias or name: f for name, f in model.model_fields.items()}
    assert set(schema["properties"]) == set(fields)  # served with its keys sorted
    assert set(schema["required"]) == {name for name, f in fields.items() if f.is_required()}
    closed = model.model_config.get("extra") == "forbid"
    assert schema.get("additionalProperties", True) is not closed
    for name, field in fields.items():
        if field.description:
            assert schema["properties"][name]["description"] == field.description


def test_a_field_added_to_an_answer_model_appears_in_the_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Contact(response_models.Contact):
        """A contact with a nickname."""

        nickname: str | None = Field(description="What the contact is called.")

    models = [Contact if m is response_models.Contact else m for m in response_models.COMPONENTS]
    monkeypatch.setattr(response_models, "COMPONENTS", tuple(models))
    schema = response_schemas()["Contact"]
    assert schema["properties"]["nickname"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "description": "What the contact is called.",
    }
    assert "nickname" in schema["required"]
    assert schema["description"] == "A contact with a nickname."


def test_the_served_answer_schemas_are_the_ones_generated_from_the_models(
    client: FlaskClient,
) -> None:
    served = client.get("/api/openapi.json").get_json()["components"]["schemas"]
    generated = json.loads(json.dumps(response_schemas()))
    assert {name: served[name] for name in generated} == generated


def test_only_components_are_named_and_every_reference_resolves() -> None:
    doc = document()
    names = set(doc["components"]["schemas"])
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(doc)))
    assert refs <= names
    for model in response_models.COMPONENTS:
        assert model.__name__ in names
