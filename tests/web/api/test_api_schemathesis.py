"""Schemathesis fuzzes every operation of /api/openapi.json against the live app with a real token:
no answer may be a server error, and every answer must match the document (status, content
type, headers, body)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.web.api.openapi import document
from tests.web.api.conftest import issue_token

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def isolated(app: Flask) -> Callable[[dict[str, Any], Any], Iterable[bytes]]:
    """The app as a WSGI callable whose every request runs in a fresh context, as in production."""

    def wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return contextvars.Context().run(app, environ, start_response)

    return wsgi


# Loaded from the same function that serves /api/openapi.json (test_api_openapi checks the two
# are identical); Schemathesis 4.32's lazy `from_fixture` loader does not run on pytest 9.
schema = schemathesis.openapi.from_dict(document())


@pytest.fixture
def bearer(app: Flask, user: Any) -> dict[str, str]:
    """The header of a real token of the test user."""
    return {"Authorization": f"Bearer {issue_token(user)}"}


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(
    case: Any, app: Flask, bearer: dict[str, str]
) -> None:
    app.config["API_RATE_LIMIT"] = "1000000 per minute"
    case.call_and_validate(app=isolated(app), headers=bearer, checks=CHECKS)
