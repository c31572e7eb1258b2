"""Redis restarted (all its data lost) while an import runs: nothing is lost, pages keep working."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.imports.importing import run_import
from app.jobs.maintenance import recover_jobs
from app.jobs.queue import enqueue_committed
from app.jobs.submit import enqueue_import
from app.models import ExportJob, Tenant, User
from tests.conftest import csrf_token, make_tenant
from tests.faults.conftest import (
    IMPORT_OPTIONS,
    PrivateRedis,
    Workers,
    counts,
    emails_csv,
    fresh_import,
    tenant_state,
    wait_for,
)
from tests.imports.conftest import csv_bytes, new_job

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("faults")]

ROWS = 10_000


def test_redis_restart_during_an_import_loses_nothing_and_pages_keep_answering(
    app: Flask,
    workers: Workers,
    private_redis: PrivateRedis,
    tenant: Tenant,
    signed_in: User,
    client: FlaskClient,
) -> None:
    content = emails_csv(ROWS)
    reference = make_tenant("Reference")
    expected = counts(run_import(new_job(reference, content, **IMPORT_OPTIONS).id, batch_size=200))

    job = new_job(tenant, content, file_name="spring.csv", **IMPORT_OPTIONS)
    enqueue_import(job)
    workers.start("worker", REDIS_URL=private_redis.url, IMPORT_BATCH_SIZE="200")
    wait_for(lambda: fresh_import(job.id).checkpoint_row > 0, 60, "the import to be under way")
    # a second import waits in the queue behind the first one: Redis alone knows it is queued
    queued = new_job(
        tenant, csv_bytes([["Email"], ["late@example.com"]]), mapping={"Email": "email"}
    )
    enqueue_import(queued)
    private_redis.crash()

    # Redis is down: the pages read the database and say where the import is
    history = client.get("/history")
    assert history.status_code == 200 and "spring.csv" in history.get_data(as_text=True)
    page = client.get(f"/imports/{job.id}")
    assert page.status_code == 200
    partial = client.get(f"/imports/{job.id}", headers={"HX-Request": "true"})
    assert partial.status_code == 200
    shown = fresh_import(job.id)
    assert shown.status in ("processing", "completed")
    text = partial.get_data(as_text=True)
    assert "Importing" in text or "Import finished" in text
    assert client.get(f"/history/imports/{job.id}").status_code == 200
    assert client.get("/").status_code == 200
    # starting an export now is accepted and waits for the queue (no error page)
    token = csrf_token(client, "/exports/new")
    posted = client.post(
        "/exports/new",
        data={
            "csrf_token": token,
            "export_type": "full",
            "fields": ["email"],
            "file_format": "csv",
        },
    )
    assert posted.status_code in (302, 303), posted.get_data(as_text=True)[:2000]
    export_page = client.get(posted.headers["Location"])
    assert export_page.status_code == 200
    assert "Waiting for a worker to start" in export_page.get_data(as_text=True)

    private_redis.start()  # empty: every queue and job record is gone

    # the scheduler's recover_jobs (every minute) finds what Redis forgot
    def recovered() -> bool:
        enqueue_committed("maintenance", recover_jobs)
        db.session.expire_all()
        exports = db.session.scalars(select(ExportJob.status)).all()
        imports = {fresh_import(job.id).status, fresh_import(queued.id).status}
        return imports == {"completed"} and exports == ["completed"]

    workers.start("after", REDIS_URL=private_redis.url)
    wait_for(recovered, 120, "the import to finish after the restart", interval=1.0)
    assert counts(fresh_import(job.id)) == expected
    state = tenant_state(tenant.id)
    assert state.pop("late@example.com")
    assert state == tenant_state(reference.id)
    assert fresh_import(queued.id).created_count == 1
    export = db.session.scalars(select(ExportJob)).one()
    assert export.file_url and export.processed_contacts == export.total_contacts > 0
