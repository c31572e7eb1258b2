"""API test helpers: a token, a client that sends it, and a check of every answer against the
OpenAPI document (status documented, body valid, required headers present)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from rq import SimpleWorker
from werkzeug.test import TestResponse

from app.extensions import db
from app.jobs.queue import get_queue, redis_connection
from app.models import ApiToken, User
from app.web.api.openapi import document

DOC_URI = "urn:contacts-io:openapi"


def issue_token(user: User) -> str:
    """A new API token for `user` (the raw value, as `tokens create` prints it)."""
    token, raw = ApiToken.issue(user)
    db.session.add(token)
    db.session.commit()
    return raw


@cache
def _registry() -> tuple[dict[str, Any], Registry]:
    doc = document()
    resource = Resource.from_contents(
        {**doc, "$schema": "https://json-schema.org/draft/2020-12/schema"}
    )
    return doc, Registry().with_resource(DOC_URI, resource)


def _template_for(path: str, doc: dict[str, Any]) -> str:
    """The document's path template for a request path; concrete paths win over templated ones."""
    matches = []
    for template in doc["paths"]:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            matches.append(template)
    assert matches, f"{path} is not in the OpenAPI document"
    return min(matches, key=lambda t: t.count("{"))


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def assert_documented(method: str, path: str, response: TestResponse) -> None:
    """Fail unless the document describes this answer: its status, body and required headers."""
    doc, registry = _registry()
    template = _template_for(path.split("?", 1)[0], doc)
    operation = doc["paths"][template].get(method.lower())
    assert operation is not None, f"{method} {template} is not in the OpenAPI document"
    status = str(response.status_code)
    assert status in operation["responses"], f"{method} {template} answered undocumented {status}"
    spec = operation["responses"][status]
    for name, header in spec.get("headers", {}).items():
        if header.get("required"):
            assert name in response.headers, f"{method} {template} {status} lacks {name}"
    content = spec.get("content")
    if not content:
        return
    assert response.mimetype in content, f"{method} {template} {status}: {response.mimetype}"
    pointer = _pointer("paths", template, method.lower(), "responses", status, "content")
    pointer += "/" + _pointer(response.mimetype, "schema")
    validator = Draft202012Validator(
        {"$ref": f"{DOC_URI}#/{pointer}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    problems = [
        f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(response.get_json())
    ]
    assert not problems, f"{method} {template} {status} breaks the schema: {problems}"


class ApiClient:
    """Calls the API with a bearer token; every answer is checked against the document."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.token = token

    def open(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        assert_documented(method, path, response)
        return response

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.open("POST", path, **kwargs)


@pytest.fixture
def token(user: User) -> str:
    """A token of the test user (tenant Acme)."""
    return issue_token(user)


@pytest.fixture
def api(app: Flask, token: str) -> ApiClient:
    """The API as the test user's token calls it (no cookies)."""
    return ApiClient(app.test_client(use_cookies=False), token)


def work(queue: str = "imports") -> None:
    """Run a real RQ worker until the queue is empty."""
    SimpleWorker([get_queue(queue)], connection=redis_connection()).work(burst=True)


@pytest.fixture
def run_jobs(app: Flask) -> Iterator[Any]:
    """Run the queued jobs of the imports and exports queues with a real worker."""

    def _run() -> None:
        work("imports")
        work("exports")
        db.session.expire_all()

    yield _run
