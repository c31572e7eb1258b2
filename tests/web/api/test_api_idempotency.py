"""A retried POST with the same Idempotency-Key answers the first job instead of starting another."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models import ExportJob, ImportJob
from tests.conftest import make_tenant, make_user
from tests.web.api.conftest import ApiClient, issue_token
from tests.web.api.test_api_end_to_end import upload


def _count(model: type[ImportJob] | type[ExportJob]) -> int:
    return db.session.scalar(select(func.count(model.id))) or 0


def test_the_same_key_twice_starts_one_import_and_answers_the_same(api: ApiClient) -> None:
    body = {"fileUrl": upload(api)["fileUrl"], "fieldMapping": {"Email": "email"}}
    headers = {"Idempotency-Key": "order-42-import"}
    first = api.post("/api/contacts/import", json=body, headers=headers)
    second = api.post("/api/contacts/import", json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.get_json() == second.get_json()
    assert first.headers["Location"] == second.headers["Location"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _count(ImportJob) == 1
    third = api.post("/api/contacts/import", json=body, headers={"Idempotency-Key": "other"})
    assert third.get_json()["jobId"] != first.get_json()["jobId"]
    assert _count(ImportJob) == 2


def test_the_same_key_twice_starts_one_export(api: ApiClient) -> None:
    headers = {"Idempotency-Key": "nightly-2026-05-01"}
    first = api.post("/api/contacts/export", json={"format": "json"}, headers=headers)
    second = api.post("/api/contacts/export", json={"format": "json"}, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.get_json() == second.get_json()
    assert _count(ExportJob) == 1


def test_keys_belong_to_one_tenant(app: Flask, api: ApiClient) -> None:
    other = ApiClient(app.test_client(), issue_token(make_user(make_tenant("Globex"))))
    headers = {"Idempotency-Key": "shared-key"}
    ours = api.post("/api/contacts/export", json={}, headers=headers)
    theirs = other.post("/api/contacts/export", json={}, headers=headers)
    assert ours.status_code == theirs.status_code == 202
    assert ours.get_json()["jobId"] != theirs.get_json()["jobId"]
    assert "Idempotent-Replayed" not in theirs.headers
    assert _count(ExportJob) == 2


def test_a_refused_request_does_not_use_up_its_key(api: ApiClient) -> None:
    headers = {"Idempotency-Key": "retry-after-fix"}
    refused = api.post("/api/contacts/export", json={"format": "pdf"}, headers=headers)
    assert refused.status_code == 422
    fixed = api.post("/api/contacts/export", json={"format": "csv"}, headers=headers)
    assert fixed.status_code == 202
    assert _count(ExportJob) == 1
