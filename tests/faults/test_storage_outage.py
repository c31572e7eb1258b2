"""The S3-protocol storage stops while an export uploads its file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from flask import Flask
from flask.testing import FlaskClient
from moto.server import ThreadedMotoServer

from app.exports.query import ExportFilters
from app.exports.service import ExportRequest
from app.extensions import db
from app.jobs.maintenance import daily_cleanup
from app.jobs.queue import enqueue_committed
from app.jobs.submit import submit_export
from app.models import ExportJob, Tenant, User
from tests.conftest import S3_REGION
from tests.faults.conftest import FlakyProxy, Workers, bulk_contacts, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("faults")]

CONTACTS = 200_000  # a CSV of about 10 MB: uploaded in parts of 8 MB


@pytest.fixture
def flaky_s3(aws_credentials: None) -> Iterator[tuple[FlakyProxy, str, Any]]:
    """A private S3-protocol server behind a proxy the test can cut; yields proxy, bucket, client."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.session.Session().client(
        "s3",
        region_name=S3_REGION,
        endpoint_url=f"http://{host}:{port}",
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )
    client.create_bucket(Bucket="exports-under-test")
    proxy = FlakyProxy((host, port), delay=0.01)  # about 6 MB/s: the upload takes a while
    try:
        yield proxy, "exports-under-test", client
    finally:
        proxy.close()
        server.stop()


def test_storage_stopping_during_an_export_upload_fails_it_clearly_and_references_no_file(
    app: Flask,
    workers: Workers,
    tenant: Tenant,
    signed_in: User,
    client: FlaskClient,
    flaky_s3: tuple[FlakyProxy, str, Any],
) -> None:
    proxy, bucket, s3 = flaky_s3
    bulk_contacts(tenant.id, CONTACTS, tag="vip")
    request = ExportRequest(
        "full", ExportFilters(), ["email", "first_name", "last_name", "tags"], "csv"
    )
    job = submit_export(tenant.id, request, user_id=signed_in.id)

    def export_row() -> ExportJob:
        db.session.rollback()
        db.session.expire_all()
        return db.session.get(ExportJob, job.id)

    storage_env = {
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET": bucket,
        "S3_REGION": S3_REGION,
        "S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
    }
    workers.start("worker", "exports", **storage_env)
    wait_for(lambda: export_row().upload_key, 60, "the upload to start", interval=0.01)
    proxy.cut()  # the storage is gone, in the middle of the upload
    wait_for(lambda: export_row().status != "processing", 60, "the export to give up")

    failed = export_row()
    assert failed.status == "failed"
    assert failed.failure_message.startswith("The finished file could not be stored: Storage")
    assert failed.file_url is None
    page = client.get(f"/exports/{job.id}/download")
    assert page.status_code == 400 and "Nothing to download" in page.get_data(as_text=True)
    detail = client.get(f"/exports/{job.id}").get_data(as_text=True)
    assert "could not be stored" in detail

    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)  # no object under any key
    # the upload's parts may be left in the store (its abort could not reach it either): when
    # the storage is back, the daily clean-up removes what the failed run left
    proxy.resume()
    enqueue_committed("maintenance", daily_cleanup)
    workers.start("cleanup", "maintenance", burst=True, **storage_env)
    wait_for(lambda: export_row().upload_key is None, 60, "the clean-up")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
