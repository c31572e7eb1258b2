"""Malformed input on every route: no value in a query parameter, a form field, a path argument
or a JSON body makes a page or an API operation answer a server error (5xx).

The routes come from `app.url_map` and the API operations from the served OpenAPI document, so
a route added later is sent malformed values too, or the test fails saying what it needs to know
(how to fill the route's path argument, which form it posts). The query parameters and form
fields a view reads are read from the view's own code (`request.args.get("...")`, the WTForms
classes it builds, following its calls inside `app.web`): a test fails when a view reads one that
QUERY_PARAMS or FORMS below lack.

Each request carries one malformed value, the rest of it being what a user would send; every
offender is listed in one failure (route, method, where, value, status).
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule
from wtforms import Form

from app.extensions import db, limiter
from app.imports.draft_mapping import NEW_FIELD
from app.imports.dry_run import run_dry_run
from app.imports.importing import run_import
from app.models import ImportJob, Tenant, User
from app.web.auth.forms import ChangePasswordForm, LoginForm
from app.web.exports.forms import ExportForm
from app.web.wizard.forms import OptionsForm, SourceForm, UploadForm
from tests.conftest import AuthActions, csrf_token
from tests.imports.conftest import new_job
from tests.web.api.conftest import issue_token
from tests.web.malformed import (
    BAD,
    DEEP_JSON,
    WRONG_JSON,
    Bad,
    json_text,
    multipart,
    pairs_of,
    schema_paths,
    urlencoded,
    with_json,
    with_value,
)
from tests.web.test_cross_tenant import Objects, make_objects
from tests.web.test_wizard import LEADS, draft_of, mapping_form, options_form, post, upload
from tests.web.view_reads import form_fields, view_reads

# --- how each route is filled --------------------------------------------------------------


@dataclass
class Seed:
    """The signed-in user's data: one of every kind of object, and fresh drafts on demand."""

    client: FlaskClient
    objects: Objects

    def draft(self) -> ImportJob:
        """A new draft taken through the wizard's mapping and options, as a user would."""
        job = draft_of(upload(self.client, LEADS))
        post(self.client, f"/imports/{job.id}/mapping", {**mapping_form(job), "action": "continue"})
        post(self.client, f"/imports/{job.id}/options", {**options_form(), "action": "continue"})
        return job


def _draft_steps(seed: Seed) -> list[Any]:
    return [seed.draft().id, seed.objects.finished.id]


def _reviewed_draft(seed: Seed) -> list[Any]:
    """A draft whose dry run has finished (its row 4 refused), and a finished import."""
    job = seed.draft()
    run_dry_run(job.id)
    return [job.id, seed.objects.finished.id]


def _api_refused_rows(seed: Seed) -> list[Any]:
    """A dry run and a finished import (no browser session), each refusing row 4 of LEADS."""
    mapping = {"E-mail Address": "email", "Frist Name": "first_name"}
    dry = new_job(seed.objects.tenant, LEADS, mapping=mapping)
    dry.status = "draft"
    db.session.commit()
    run_dry_run(dry.id)
    finished = run_import(new_job(seed.objects.tenant, LEADS, mapping=mapping).id)
    return [dry.id, finished.id]


def _import_pages(seed: Seed) -> list[Any]:
    o = seed.objects
    return [o.finished.id, o.running.id, o.draft.id]


# Real values for each route's path argument (the first one also gets the query and form fuzz).
PATH_VALUES: dict[str, Callable[[Seed], list[Any]]] = {
    "static": lambda s: ["css/app.css"],
    "contacts.detail": lambda s: [s.objects.contact.id],
    "files.download": lambda s: [s.objects.file_link.rsplit("/", 1)[-1]],
    "exports.detail": lambda s: [s.objects.export.id],
    "exports.download": lambda s: [s.objects.export.id],
    "wizard.source": _draft_steps,
    "wizard.mapping": _draft_steps,
    "wizard.options": _draft_steps,
    "wizard.confirm": _draft_steps,
    "wizard.dry_run": _draft_steps,
    "wizard.dry_run_errors": _draft_steps,
    "wizard.start": _draft_steps,
    "wizard.discard": _draft_steps,
    "wizard.review": _reviewed_draft,
    "wizard.save_review_page": _reviewed_draft,
    "wizard.save_review_row": _reviewed_draft,
    "wizard.review_bulk": _reviewed_draft,
    "wizard.start_follow_up": _reviewed_draft,
    "wizard.follow_up": lambda s: [s.objects.finished.id, s.objects.running.id],
    "wizard.job": lambda s: [s.objects.running.id, s.objects.finished.id],
    "wizard.cancel": lambda s: [s.objects.running.id, s.objects.finished.id],
    "wizard.error_report": lambda s: [s.objects.finished.id],
    "history.import_detail": _import_pages,
    "history.rollback": _import_pages,
    "notifications.open_note": lambda s: [s.objects.note.id],
    "api.get_import": _import_pages,
    "api.rollback_import": _import_pages,
    "api.cancel_import": lambda s: [s.objects.running.id, s.objects.finished.id],
    "api.import_errors": lambda s: [*_api_refused_rows(s), s.objects.draft.id],
    "api.correct_rows": _api_refused_rows,
    "api.start_follow_up": lambda s: _api_refused_rows(s)[1:],
    "api.get_export": lambda s: [s.objects.export.id],
    "api.download_export": lambda s: [s.objects.export.id],
    "api.get_contact": lambda s: [s.objects.contact.id],
}

# The query parameters each page reads (the API's come from its OpenAPI document).
QUERY_PARAMS: dict[str, list[str]] = {
    "contacts.index": ["q", "tag", "page"],
    "history.index": ["kind", "status", "page"],
    "exports.new": ["segment", "tag"],
    "exports.count": ["order"],
    "auth.login": ["next"],
    "wizard.review": ["problem", "after", "before"],
}
QUERY_FORMS: dict[str, type[Form]] = {"exports.count": ExportForm}  # a form read from the URL


@dataclass(frozen=True)
class FormSpec:
    """What a page's POST reads: a WTForms class, more fields, a valid submission to vary."""

    form: type[Form] | None = None
    extra: tuple[str, ...] = ()
    base: Callable[[Seed, Any], dict[str, Any]] = lambda seed, value: {}
    multipart: bool = False


def _mapping_base(seed: Seed, job_id: Any) -> dict[str, Any]:
    job = db.session.get(ImportJob, job_id)
    return {**mapping_form(job, Town=NEW_FIELD), "action": "continue"}


FORMS: dict[str, FormSpec] = {
    "auth.login": FormSpec(
        LoginForm, base=lambda s, v: {"email": "nobody@acme.test", "password": "x"}
    ),
    "auth.logout": FormSpec(),
    "auth.sign_out_everywhere": FormSpec(),
    "auth.change_password": FormSpec(
        ChangePasswordForm,
        base=lambda s, v: {
            "current_password": "not it",
            "new_password": "x" * 8,
            "confirm": "x" * 8,
        },
    ),
    "exports.new": FormSpec(
        ExportForm,
        ("action", "order"),
        lambda s, v: {"scope": "full", "fields": ["email", "first_name"], "file_format": "csv"},
    ),
    "wizard.upload": FormSpec(
        UploadForm, base=lambda s, v: {"file": (LEADS, "leads.csv")}, multipart=True
    ),
    "wizard.source": FormSpec(
        SourceForm,
        ("action",),
        lambda s, v: {"file_type": "csv", "encoding": "utf-8", "delimiter": ",", "sheet": ""},
    ),
    "wizard.mapping": FormSpec(
        None, ("map-0", "map-5", "new-name-5", "new-type-5", "action"), _mapping_base
    ),
    "wizard.options": FormSpec(
        OptionsForm,
        ("action", "rule-first_name"),
        lambda s, v: {**options_form(), "action": "continue"},
    ),
    "wizard.dry_run": FormSpec(),
    "wizard.save_review_page": FormSpec(
        None,
        ("rows", "cell-4-0", "was-4-0", "skip-4", "problem", "after", "before"),
        lambda s, v: {"rows": "4", "cell-4-0": "bad@example.com", "cell-4-1": "Bad"},
    ),
    "wizard.save_review_row": FormSpec(
        None,
        ("row", "cell-4-0", "was-4-0", "skip-4", "problem", "after", "before"),
        lambda s, v: {"row": "4", "cell-4-0": "bad@example.com"},
    ),
    "wizard.review_bulk": FormSpec(
        None,
        ("action", "bulk_problem", "value", "region", "column", "problem", "after", "before"),
        lambda s, v: {"action": "lower", "column": "1"},
    ),
    "wizard.start": FormSpec(),
    "wizard.start_follow_up": FormSpec(),
    "wizard.follow_up": FormSpec(),
    "wizard.discard": FormSpec(),
    "wizard.cancel": FormSpec(),
    "history.rollback": FormSpec(None, ("force",), lambda s, v: {"force": "yes"}),
    "notifications.mark_all_read": FormSpec(None, ("next",), lambda s, v: {"next": "/"}),
}
SIGNING_OUT = {"auth.logout", "auth.sign_out_everywhere"}
ANONYMOUS = {"auth.login"}  # pages a signed-in user is sent away from
API_UNDOCUMENTED = {"api.docs"}  # served under /api, but a page: fuzzed with the pages


def endpoint_of(app: Flask, path: str, method: str) -> str:
    """The endpoint serving a documented path template (`{jobId}` matched as any segment)."""
    adapter = app.url_map.bind("localhost")
    concrete = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)
    endpoint, _ = adapter.match(concrete, method=method.upper())
    return str(endpoint)


def documented(app: Flask, doc: dict[str, Any]) -> dict[tuple[str, str], tuple[str, dict]]:
    """(endpoint, METHOD) -> (path template, operation) for every documented operation."""
    found = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            found[(endpoint_of(app, path, method), method.upper())] = (path, op)
    return found


def _methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def test_every_route_and_parameter_is_known_to_the_fuzzer(app: Flask, client: FlaskClient) -> None:
    api = documented(app, client.get("/api/openapi.json").get_json())
    missing = []
    for rule in app.url_map.iter_rules():
        where = f"{rule.rule} ({rule.endpoint})"
        if rule.arguments and rule.endpoint not in PATH_VALUES:
            missing.append(f"{where}: add real values of {sorted(rule.arguments)} to PATH_VALUES")
        if len(rule.arguments) > 1:
            missing.append(f"{where}: the fuzzer fills one path argument; teach it several")
        reads = view_reads(app.view_functions[rule.endpoint])
        for method in _methods(rule):
            if (rule.endpoint, method) in api:
                _path, op = api[(rule.endpoint, method)]
                known = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            elif rule.endpoint.startswith("api.") and rule.endpoint not in API_UNDOCUMENTED:
                missing.append(f"{method} {where}: not in the OpenAPI document")
                continue
            else:
                known = QUERY_PARAMS.get(rule.endpoint, [])
                if rule.endpoint in QUERY_FORMS:
                    known = known + form_fields(app, QUERY_FORMS[rule.endpoint])
            if reads.whole_args and rule.endpoint not in QUERY_FORMS:
                missing.append(f"{where}: reads a form from the URL; add it to QUERY_FORMS")
            for pattern in reads.args:
                if not any(re.fullmatch(pattern, name) for name in known):
                    missing.append(f"{where}: reads ?{pattern}; add it to QUERY_PARAMS/document")
            if method == "GET" or rule.endpoint.startswith("api."):
                continue
            spec = FORMS.get(rule.endpoint)
            if spec is None:
                missing.append(f"{method} {where}: add what it sends to FORMS")
                continue
            posted = list(spec.extra) + (form_fields(app, spec.form) if spec.form else [])
            for pattern in reads.form:
                if not any(re.fullmatch(pattern, name) for name in posted):
                    missing.append(f"{method} {where}: reads field {pattern}; add it to FORMS")
            forms = {spec.form, QUERY_FORMS.get(rule.endpoint)}
            for form in reads.forms - forms:
                missing.append(f"{method} {where}: builds {form.__name__}; put it in FORMS")
    assert not missing, "the malformed-input fuzzer does not know:\n" + "\n".join(missing)


# --- sending requests and collecting offenders ---------------------------------------------------


class Offenders:
    """Sends requests and keeps every one answered with 5xx, with the error the app logged."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.found: list[str] = []
        self.sent = 0

    def send(self, client: FlaskClient, what: str, path: str, method: str, **kwargs: Any) -> Any:
        """One request; `what` says which part of it is malformed, for the report."""
        self.sent += 1
        self.caplog.clear()
        try:
            response = client.open(path, method=method, **kwargs)
            response.get_data()  # a streamed body fails while it is read
        except Exception as exc:  # a failure the error handlers did not turn into a page
            self.found.append(f"{method} {_short(path)} {what}: raised {exc!r:.200}")
            return None
        if response.status_code >= 500:
            logged = [r.exc_info[1] for r in self.caplog.records if r.exc_info]
            cause = f" ({logged[-1]!r:.200})" if logged else ""
            self.found.append(f"{method} {_short(path)} {what}: {response.status_code}{cause}")
        return response

    def report(self) -> str:
        return f"{len(self.found)} of {self.sent} requests answered 5xx:\n" + "\n".join(self.found)


def _short(path: str) -> str:
    return path if len(path) < 120 else path[:60] + "…" + path[-40:]


@pytest.fixture
def offenders(caplog: pytest.LogCaptureFixture) -> Offenders:
    """Collects the 5xx answers of a test's requests."""
    caplog.set_level(logging.ERROR)
    return Offenders(caplog)


@pytest.fixture
def unlimited(monkeypatch: pytest.MonkeyPatch) -> None:
    """No rate limit: hundreds of failed sign-ins and API calls must all reach their view."""
    monkeypatch.setattr(limiter, "enabled", False)


# --- the pages ---------------------------------------------------------------------------------


def test_no_page_answers_malformed_input_with_a_server_error(
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    signed_in: User,
    tenant: Tenant,
    offenders: Offenders,
    unlimited: None,
) -> None:
    seed = Seed(client, make_objects(tenant))
    anonymous = app.test_client()
    api = documented(app, client.get("/api/openapi.json").get_json())
    for rule in app.url_map.iter_rules():
        for method in _methods(rule):
            if (rule.endpoint, method) not in api:
                fuzz_page(app, rule, method, seed, anonymous, auth, signed_in, offenders)
    assert not offenders.found, offenders.report()


def fuzz_page(
    app: Flask,
    rule: Rule,
    method: str,
    seed: Seed,
    anonymous: FlaskClient,
    auth: AuthActions,
    user: User,
    offenders: Offenders,
) -> None:
    """Every malformed value in each query parameter, form field and path argument of a page."""
    endpoint = rule.endpoint
    where = f"{method} {rule.rule}"
    if method != "GET" and endpoint not in FORMS:
        offenders.found.append(f"{where}: not in FORMS, so not fuzzed")
        return
    if (rule.arguments and endpoint not in PATH_VALUES) or len(rule.arguments) > 1:
        offenders.found.append(f"{where}: not in PATH_VALUES (one argument), so not fuzzed")
        return
    spec = FORMS[endpoint] if method != "GET" else None
    client = anonymous if endpoint in ANONYMOUS else seed.client
    (argument,) = rule.arguments or {None}
    reals = PATH_VALUES[endpoint](seed) if argument else [None]
    token = csrf_token(client, "/login" if endpoint in ANONYMOUS else "/")

    def url(value: Any) -> str:
        return re.sub(rf"<(\w+:)?{argument}>", str(value), rule.rule) if argument else rule.rule

    def send(what: str, path: str, **kwargs: Any) -> None:
        headers = {**kwargs.pop("headers", {}), "X-CSRFToken": token}
        offenders.send(client, what, path, method, headers=headers, **kwargs)
        if endpoint in SIGNING_OUT and client.get("/").status_code == 302:
            auth.login(user.email)  # signed out: sign in again for the next request

    def body(data: list[tuple[str, Any]]) -> dict[str, Any]:
        if spec is None:
            return {}
        if spec.multipart:
            data_bytes, content_type = multipart(data)
            return {"data": data_bytes, "content_type": content_type}
        return {"data": urlencoded(data), "content_type": "application/x-www-form-urlencoded"}

    base = pairs_of(spec.base(seed, reals[0])) if spec else []
    params = QUERY_PARAMS.get(endpoint, []) if method == "GET" else []
    if endpoint in QUERY_FORMS:
        params = params + form_fields(app, QUERY_FORMS[endpoint])
    fields = []
    if spec:
        fields = list(spec.extra) + (form_fields(app, spec.form) if spec.form else [])
        fields.append("csrf_token")
    for real in reals:
        for htmx in ({}, {"HX-Request": "true"}):
            send(
                f"{argument}=<real>{' htmx' if htmx else ''}", url(real), headers=htmx, **body(base)
            )
    for name in params:
        for bad in BAD:
            query = urlencoded([(name, raw) for raw in bad.raws])
            for htmx in ({}, {"HX-Request": "true"}):
                what = f"?{name}={bad.label}{' htmx' if htmx else ''}"
                send(what, url(reals[0]), query_string=query, headers=htmx)
    for name in fields:
        for bad in BAD:
            send(f"field {name}={bad.label}", url(reals[0]), **body(with_value(base, name, bad)))
    if argument:
        for bad in BAD[:-1]:  # a repeated path argument is no URL
            value = quote_from_bytes(bad.raws[0], safe="")
            send(f"{argument}={bad.label}", url(value), **body(base))
    send("deeply nested JSON body", url(reals[0]), data=DEEP_JSON, content_type="application/json")


# --- the API ---------------------------------------------------------------------------------


def test_no_api_operation_answers_malformed_input_with_a_server_error(
    app: Flask, user: User, tenant: Tenant, offenders: Offenders, unlimited: None
) -> None:
    client = app.test_client(use_cookies=False)
    bearer = {"Authorization": f"Bearer {issue_token(user)}"}
    doc = client.get("/api/openapi.json").get_json()
    seed = Seed(client, make_objects(tenant))
    uploaded = client.post(
        "/api/uploads",
        data={"file": (io.BytesIO(b"Email\nada@example.com\n"), "a.csv")},
        headers=bearer,
    ).get_json()
    bases = {
        "startImport": {
            "fileUrl": uploaded["fileUrl"],
            "fieldMapping": {"Email": "email"},
            "options": {"dryRun": True},
        },
        "rollbackImport": {"force": True},
        "correctImportRows": {"rows": [{"rowNumber": 4, "cells": {"E-mail Address": "x@y.com"}}]},
        "presignUpload": {"fileName": "leads.csv"},
    }
    for (endpoint, method), (template, op) in documented(app, doc).items():
        fuzz_operation(endpoint, method, template, op, doc, bases, seed, bearer, offenders)
    assert not offenders.found, offenders.report()


def fuzz_operation(
    endpoint: str,
    method: str,
    template: str,
    op: dict[str, Any],
    doc: dict[str, Any],
    bases: dict[str, Any],
    seed: Seed,
    bearer: dict[str, str],
    offenders: Offenders,
) -> None:
    """Malformed path, query and header parameters, JSON bodies and multipart parts."""
    client = seed.client
    parameters = op.get("parameters", [])
    path_params = [p["name"] for p in parameters if p["in"] == "path"]
    if path_params and endpoint not in PATH_VALUES:
        offenders.found.append(f"{method} {template}: not in PATH_VALUES, so not fuzzed")
        return
    reals = PATH_VALUES[endpoint](seed) if path_params else [None]

    def url(value: Any) -> str:
        return re.sub(r"\{[^}]+\}", str(value), template) if path_params else template

    def send(what: str, path: str, **kwargs: Any) -> None:
        headers = {**bearer, **kwargs.pop("headers", {})}
        offenders.send(client, what, path, method, headers=headers, **kwargs)

    content = op.get("requestBody", {}).get("content", {})
    base = bases.get(op.get("operationId"), {})
    as_json = {"content_type": "application/json"}
    for real in reals:
        send("<real ids>", url(real), data=json_text(base), **as_json)
    for param in parameters:
        for bad in BAD:
            what = f"{param['in']} {param['name']}={bad.label}"
            if param["in"] == "query":
                query = urlencoded([(param["name"], raw) for raw in bad.raws])
                send(what, url(reals[0]), query_string=query)
            elif param["in"] == "header" and b"\x00" not in bad.raws[0]:
                send(what, url(reals[0]), headers={param["name"]: bad.raws[0].decode("latin-1")})
            elif param["in"] == "path" and len(bad.raws) == 1:
                send(what, url(quote_from_bytes(bad.raws[0], safe="")))
    send("deeply nested JSON body", url(reals[0]), data=DEEP_JSON, **as_json)
    if "application/json" in content or method == "POST":
        send("truncated JSON body", url(reals[0]), data=b'{"a": [', **as_json)
        for label, value in WRONG_JSON.items():
            send(f"body={label}", url(reals[0]), data=json_text(value), **as_json)
    if "application/json" in content:
        schema = content["application/json"]["schema"]
        for path in dict.fromkeys(schema_paths(schema, doc)):
            for label, value in WRONG_JSON.items():
                where = ".".join(str(p) for p in path)
                body = json_text(with_json(base, path, value))
                send(f"body {where}={label}", url(reals[0]), data=body, **as_json)
    if "multipart/form-data" in content:
        parts = {"file": (b"Email\nada@example.com\n", "a.csv")}
        parts |= {k: json.dumps(v) for k, v in base.items() if k != "fileUrl"}
        names = content["multipart/form-data"]["schema"].get("properties", {})
        for name in names:
            texts = [(b.label, b.raws) for b in BAD] + [("JSON 1,000 levels deep", (DEEP_JSON,))]
            texts += [(f"JSON {label}", (json_text(v),)) for label, v in WRONG_JSON.items()]
            for label, raws in texts:
                data, content_type = multipart(with_value(pairs_of(parts), name, Bad(label, raws)))
                send(f"part {name}={label}", url(reals[0]), data=data, content_type=content_type)
