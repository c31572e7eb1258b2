"""Big files go straight to S3 with a presigned upload, then import by their fileUrl."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from flask import Flask

from app.storage import S3Storage
from tests.web.api.conftest import ApiClient
from tests.web.api.test_api_end_to_end import poll


def test_presigned_upload_to_s3_then_import_it(
    app: Flask, api: ApiClient, s3_client: Any, s3_bucket: str, run_jobs: Callable[[], None]
) -> None:
    app.extensions["storage"] = S3Storage(s3_bucket, prefix="cio", client=s3_client)
    presigned = api.post("/api/uploads/presign", json={"fileName": "Leads.CSV"})
    assert presigned.status_code == 200
    plan = presigned.get_json()
    assert plan["method"] == "POST" and plan["fileName"] == "Leads.CSV"
    content = b"Email,Company\nzoe@example.com,Zeta\n"
    sent = requests.post(
        plan["uploadUrl"],
        data=plan["fields"],
        files={"file": ("Leads.CSV", content)},
        timeout=10,
    )
    assert sent.status_code in (200, 201, 204), sent.text
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("cio/tenants/") and keys[0].endswith(".csv")

    started = api.post(
        "/api/contacts/import",
        json={
            "fileUrl": plan["fileUrl"],
            "fileName": "Leads.CSV",
            "fieldMapping": {"Email": "email", "Company": "company"},
        },
    )
    assert started.status_code == 202, started.get_json()
    job = poll(api, started.headers["Location"], run_jobs, lambda j: j["status"] == "completed")
    assert job["created"] == 1 and job["fileSize"] == len(content)
    assert api.get("/api/contacts").get_json()["items"][0]["company"] == "Zeta"


def test_presigned_upload_is_refused_without_s3(api: ApiClient) -> None:
    response = api.post("/api/uploads/presign", json={"fileName": "big.csv"})
    assert response.status_code == 400
    assert "POST /api/uploads" in response.get_json()["error"]
