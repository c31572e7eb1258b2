"""The whole API journey on PostgreSQL, Redis and a real RQ worker: upload, import, poll, read the
contacts, export, download and read the file, roll back. Every answer is checked against the
OpenAPI document by the `api` client."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis.exceptions import ConnectionError as RedisConnectionError

from app.exports.service import expire_exports, storage
from app.extensions import db
from app.jobs.maintenance import run_cleanup
from app.jobs.recovery import recover_stalled_jobs
from app.models import ImportJob, User
from app.models.types import utcnow
from tests.web.api.conftest import ApiClient

PEOPLE = (
    b"Email,First Name,Company,Tags\r\n"
    b"ada@example.com,Ada,Analytical,vip\r\n"
    b"bob@example.com,Bob,,\r\n"
    b"not-an-email,Xavier,,\r\n"
)
MAPPING = {"Email": "email", "First Name": "first_name", "Company": "company", "Tags": "tags"}
GONE = (
    "No uploaded file has this fileUrl (uploads never imported are deleted after 30 days): "
    "upload the file with POST /api/uploads."
)


def poll(
    api: ApiClient, url: str, run_jobs: Callable[[], None], done: Callable[[dict], bool]
) -> dict:
    """GET `url` until `done` says so, letting the worker run between tries."""
    for _ in range(5):
        body = api.get(url).get_json()
        if done(body):
            return body
        run_jobs()
    raise AssertionError(f"{url} never finished: {body}")


def fetch(app: Flask, url: str, token: str) -> bytes:
    """Follow a download link as an integrator would: the signed link plus the API token.

    A local signed link is also checked against its tenant: without a token or a session of
    that tenant it is refused (tests/web/test_files.py).
    """
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    refused = app.test_client().get(path)
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]
    response = app.test_client().get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.status_code
    return response.get_data()


def upload(api: ApiClient, content: bytes = PEOPLE, name: str = "people.csv") -> dict[str, Any]:
    response = api.post(
        "/api/uploads",
        data={"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def import_file(
    api: ApiClient, content: bytes, name: str, mapping: str, options: str | None = None
) -> Any:
    """POST /api/contacts/import with the file itself (multipart); mapping and options as JSON text."""
    data: dict[str, Any] = {"file": (io.BytesIO(content), name), "fieldMapping": mapping}
    if options is not None:
        data["options"] = options
    return api.post("/api/contacts/import", data=data, content_type="multipart/form-data")


def test_upload_import_read_export_download_and_roll_back(
    app: Flask, api: ApiClient, run_jobs: Callable[[], None]
) -> None:
    stored = upload(api)
    assert stored["fileName"] == "people.csv"
    assert stored["fileSize"] == len(PEOPLE)
    assert stored["fileType"] == "csv"
    assert stored["fileUrl"].startswith("upload://")

    started = api.post(
        "/api/contacts/import",
        json={
            "fileName": stored["fileName"],
            "fileUrl": stored["fileUrl"],
            "fieldMapping": MAPPING,
            "options": {"duplicateStrategy": "update", "tags": ["api"], "segmentName": "From API"},
        },
    )
    assert started.status_code == 202
    result = started.get_json()
    assert result["status"] == "pending"
    assert (result["created"], result["errors"]) == (0, [])
    location = started.headers["Location"]
    assert location == f"/api/contacts/import/{result['jobId']}"

    job = poll(api, location, run_jobs, lambda j: j["status"] == "completed")
    assert (job["totalRows"], job["processedRows"]) == (3, 3)
    assert (job["created"], job["updated"], job["imported"], job["errorCount"]) == (2, 0, 2, 1)
    assert job["errors"][0]["row"] == 4
    assert "email" in job["errors"][0]["message"].lower()
    assert job["fileType"] == "csv" and job["canRollback"] is True
    assert job["startedAt"] and job["completedAt"] and job["rolledBackAt"] is None
    report = fetch(app, job["errorReportUrl"], api.token).decode("utf-8-sig")
    assert "not-an-email" in report and "Xavier" in report

    listed = api.get("/api/contacts/imports").get_json()
    assert [i["jobId"] for i in listed["items"]] == [result["jobId"]]

    contacts = api.get("/api/contacts?tag=API").get_json()["items"]
    assert sorted(c["email"] for c in contacts) == ["ada@example.com", "bob@example.com"]
    ada = api.get("/api/contacts?email=ADA@example.com").get_json()["items"]
    assert len(ada) == 1
    assert ada[0]["firstName"] == "Ada" and ada[0]["company"] == "Analytical"
    assert ada[0]["tags"] == ["api", "vip"]
    assert [s["name"] for s in ada[0]["segments"]] == ["From API"]
    one = api.get(f"/api/contacts/{ada[0]['id']}").get_json()
    assert one == ada[0]
    segment_id = ada[0]["segments"][0]["id"]
    in_segment = api.get(f"/api/contacts?segmentId={segment_id}").get_json()["items"]
    assert len(in_segment) == 2

    export = api.post(
        "/api/contacts/export",
        json={
            "format": "csv",
            "filters": {"tags": ["vip"]},
            "selectedFields": ["email", "first_name", "tags"],
        },
    )
    assert export.status_code == 202
    export_id = export.get_json()["jobId"]
    assert export.headers["Location"] == f"/api/contacts/export/{export_id}"
    not_ready = api.get(f"/api/contacts/export/{export_id}/download")
    assert not_ready.status_code == 400
    assert "not ready" in not_ready.get_json()["error"]
    finished = poll(
        api, f"/api/contacts/export/{export_id}", run_jobs, lambda j: j["status"] == "completed"
    )
    assert (finished["exportType"], finished["totalContacts"]) == ("filtered", 1)
    link = api.get(f"/api/contacts/export/{export_id}/download").get_json()
    rows = list(csv.reader(io.StringIO(fetch(app, link["downloadUrl"], api.token).decode("utf-8"))))
    assert rows == [["Email", "First name", "Tags"], ["ada@example.com", "Ada", "api; vip"]]
    assert [e["jobId"] for e in api.get("/api/contacts/exports").get_json()["items"]] == [export_id]

    # after its retention the daily clean-up deletes the file: the link answers 410 Gone
    later = utcnow() + timedelta(days=app.config["EXPORT_RETENTION_DAYS"] + 1)
    assert expire_exports(storage(), later) == 1
    gone = api.get(f"/api/contacts/export/{export_id}/download")
    assert gone.status_code == 410
    assert "expired" in gone.get_json()["error"]
    assert api.get(f"/api/contacts/export/{export_id}").get_json()["status"] == "expired"

    rollback = api.post(f"{location}/rollback")
    assert rollback.status_code == 202
    assert rollback.get_json()["rollback"]["status"] == "pending"
    job = poll(api, location, run_jobs, lambda j: j["status"] == "rolled_back")
    assert job["rollback"]["deleted"] == 2
    assert job["canRollback"] is False and job["rolledBackAt"]
    assert api.get("/api/contacts").get_json() == {"items": [], "nextCursor": None}
    again = api.post(f"{location}/rollback")
    assert again.status_code == 409
    assert "already been rolled back" in again.get_json()["error"]


def test_import_with_the_file_in_the_request_and_a_dry_run(
    api: ApiClient, run_jobs: Callable[[], None]
) -> None:
    ann = b'[{"mail": "ann@example.com", "name": "Ann"}]'
    mapping = '{"mail": "email", "name": "first_name"}'
    response = import_file(api, ann, "people.json", mapping, '{"dryRun": true}')
    assert response.status_code == 202, response.get_json()
    url = response.headers["Location"]
    job = poll(api, url, run_jobs, lambda j: (j["dryRun"] or {}).get("status") == "completed")
    assert job["fileType"] == "json" and job["status"] == "draft"
    assert job["dryRun"]["wouldCreate"] == 1
    assert api.get("/api/contacts").get_json()["items"] == []

    real = import_file(api, ann, "people.json", mapping)
    job = poll(api, real.headers["Location"], run_jobs, lambda j: j["status"] == "completed")
    assert job["created"] == 1
    assert [c["firstName"] for c in api.get("/api/contacts").get_json()["items"]] == ["Ann"]


def test_a_dry_run_is_no_unfinished_import_and_goes_with_the_retention(
    app: Flask, api: ApiClient, run_jobs: Callable[[], None], client: FlaskClient, signed_in: User
) -> None:
    stored = upload(api)
    body = {"fileUrl": stored["fileUrl"], "fieldMapping": MAPPING, "options": {"dryRun": True}}
    dry = api.post("/api/contacts/import", json=body)
    assert dry.status_code == 202, dry.get_json()
    poll(api, dry.headers["Location"], run_jobs, lambda j: j["dryRun"]["status"] == "completed")
    assert "Unfinished imports" not in client.get("/").get_data(as_text=True)
    refused = api.post(f"{dry.headers['Location']}/cancel")
    assert refused.status_code == 409 and "nothing to cancel" in refused.get_json()["error"]
    assert api.get(dry.headers["Location"]).get_json()["status"] == "draft"
    assert api.get("/api/contacts/imports").get_json()["items"] == []

    result = run_cleanup(now=utcnow() + timedelta(days=31))
    assert (result.drafts_deleted, result.unused_uploads_deleted) == (1, 0)
    assert api.get(dry.headers["Location"]).status_code == 404
    again = api.post("/api/contacts/import", json={**body, "options": {}})
    assert again.status_code == 422
    assert again.get_json()["details"][0]["message"] == GONE


def test_a_dry_run_sent_while_the_queue_is_down_runs_once_it_is_back(
    api: ApiClient, run_jobs: Callable[[], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.jobs import queue

    def down(name: str) -> None:
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    stored = upload(api)
    monkeypatch.setattr(queue, "get_queue", down)
    body = {"fileUrl": stored["fileUrl"], "fieldMapping": MAPPING, "options": {"dryRun": True}}
    dry = api.post("/api/contacts/import", json=body)
    assert dry.status_code == 202 and dry.get_json()["status"] == "draft"
    assert api.get(dry.headers["Location"]).get_json()["dryRun"] == {"status": "pending"}
    monkeypatch.undo()

    assert recover_stalled_jobs()["dry_runs"] == 1  # the scheduler runs it every minute
    job = poll(api, dry.headers["Location"], run_jobs, lambda j: j["dryRun"]["status"] != "pending")
    assert (job["dryRun"]["status"], job["dryRun"]["wouldCreate"]) == ("completed", 2)
    assert recover_stalled_jobs()["dry_runs"] == 0


def test_uploads_never_imported_are_deleted_after_the_retention(app: Flask, api: ApiClient) -> None:
    unused, waiting = upload(api), upload(api)
    started = api.post(
        "/api/contacts/import", json={"fileUrl": waiting["fileUrl"], "fieldMapping": MAPPING}
    )
    assert started.status_code == 202
    assert run_cleanup(now=utcnow() + timedelta(days=29)).unused_uploads_deleted == 0

    assert run_cleanup(now=utcnow() + timedelta(days=31)).unused_uploads_deleted == 1
    refused = api.post(
        "/api/contacts/import", json={"fileUrl": unused["fileUrl"], "fieldMapping": MAPPING}
    )
    assert refused.status_code == 422
    assert refused.get_json()["details"][0]["message"] == GONE
    job = db.session.get(ImportJob, uuid.UUID(started.get_json()["jobId"]))
    assert job.status == "pending" and storage().exists(job.file_url)


def test_an_import_of_an_upload_shows_the_name_it_was_uploaded_with(api: ApiClient) -> None:
    stored = upload(api, name="Kunden Zürich & Co (2026).csv")
    assert stored["fileName"] == "Kunden Zürich & Co (2026).csv"
    started = api.post(
        "/api/contacts/import", json={"fileUrl": stored["fileUrl"], "fieldMapping": MAPPING}
    )
    assert started.status_code == 202, started.get_json()
    job = api.get(started.headers["Location"]).get_json()
    assert job["fileName"] == "Kunden Zürich & Co (2026).csv"
    listed = api.get("/api/contacts/imports").get_json()["items"]
    assert [item["fileName"] for item in listed] == ["Kunden Zürich & Co (2026).csv"]
    renamed = api.post(
        "/api/contacts/import",
        json={"fileUrl": stored["fileUrl"], "fileName": "leads.csv", "fieldMapping": MAPPING},
    )
    assert api.get(renamed.headers["Location"]).get_json()["fileName"] == "leads.csv"


def test_cancel_a_waiting_import(api: ApiClient) -> None:
    stored = upload(api)
    started = api.post(
        "/api/contacts/import",
        json={"fileUrl": stored["fileUrl"], "fieldMapping": {"Email": "email"}},
    )
    url = started.headers["Location"]
    cancelled = api.post(f"{url}/cancel")
    assert cancelled.status_code == 202
    assert cancelled.get_json()["status"] == "cancelled"
    again = api.post(f"{url}/cancel")
    assert again.status_code == 409
    assert "already ended" in again.get_json()["error"]
