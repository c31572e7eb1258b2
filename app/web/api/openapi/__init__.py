"""The OpenAPI 3.1 description of the API, served at /api/openapi.json and rendered at /api/docs.

Its schemas are generated from the pydantic models the API validates requests with
(`schemas.py`) and that describe its answers (`response_models.py`); the paths and their prose
are in `paths.py`. The API tests check every real answer against the document, with
Schemathesis fuzzing each operation on top.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from pydantic import BaseModel

from app.web.api import response_models, schemas
from app.web.api.openapi.paths import REF, paths

REQUEST_BODIES: tuple[type[BaseModel], ...] = (
    schemas.ImportRequestBody,
    schemas.RollbackBody,
    schemas.CorrectionsBody,
    schemas.PresignBody,
    schemas.ExportOptionsBody,
)


def _plain(schema: Any) -> Any:
    """A response schema without pydantic's titles and defaults: an answer has every field."""
    if isinstance(schema, list):
        return [_plain(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    plain: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("title", "default"):
            continue
        if key == "properties":
            plain[key] = {name: _plain(prop) for name, prop in value.items()}
        else:
            plain[key] = _plain(value)
    if "description" in plain and "properties" in plain:  # a docstring, wrapped in the source
        plain["description"] = " ".join(plain["description"].split())
    return plain


def _inlined(schema: Any, definitions: dict[str, Any], named: set[str]) -> Any:
    """The schema with the references to models that are no component written in place."""
    if isinstance(schema, list):
        return [_inlined(item, definitions, named) for item in schema]
    if not isinstance(schema, dict):
        return schema
    name = schema.get("$ref", "").removeprefix(REF)
    if name and name not in named:
        return _inlined({**definitions[name], **_beside_ref(schema)}, definitions, named)
    return {key: _inlined(value, definitions, named) for key, value in schema.items()}


def _beside_ref(schema: dict[str, Any]) -> dict[str, Any]:
    """What a reference says beside its target (a field's description)."""
    return {key: value for key, value in schema.items() if key != "$ref"}


def response_schemas() -> dict[str, Any]:
    """The component schema of each answer, generated from its model."""
    named = {model.__name__ for model in response_models.COMPONENTS}
    components = {}
    for model in response_models.COMPONENTS:
        schema, definitions = schemas.json_schema(model)
        components[model.__name__] = _plain(_inlined(schema, definitions, named))
    return components


@cache
def _document() -> dict[str, Any]:
    components: dict[str, Any] = response_schemas()
    for model in REQUEST_BODIES:
        schema, definitions = schemas.json_schema(model)
        components[model.__name__] = schema
        components.update(definitions)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "contacts-io API",
            "version": "1.0.0",
            "description": "Import and export a tenant's contacts with the engine the web app "
            "uses. Every call but this description needs `Authorization: Bearer <token>` "
            "(make one with `flask --app wsgi tokens create --email you@example.com`); a "
            'browser session is not accepted. Errors are `{"error": "...", "details": '
            '[{"field": ..., "message": ...}]}`. Requests are limited per token, and tokens '
            "that are not valid per client address; over a limit the answer is 429 with "
            "Retry-After.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [
            {"name": "Imports", "description": "Upload files, import them, roll them back."},
            {"name": "Exports", "description": "Export contacts to CSV, XLSX, JSON or NDJSON."},
            {"name": "Contacts", "description": "Read contacts."},
            {"name": "Account", "description": "The token and this description."},
        ],
        "paths": paths(),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from `flask --app wsgi tokens create`.",
                }
            },
        },
    }


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document (a fresh copy, safe to change)."""
    return copy.deepcopy(_document())
