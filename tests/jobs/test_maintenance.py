"""The daily clean-up, run by a real RQ worker, and its place in the cron scheduler."""

from __future__ import annotations

import io
from datetime import timedelta

from flask import Flask
from rq import SimpleWorker

from app.extensions import db
from app.jobs.maintenance import daily_cleanup
from app.jobs.queue import enqueue_committed, get_queue, redis_connection
from app.jobs.scheduler import DAILY_CLEANUP_CRON, build_scheduler
from app.models import ExportJob, Tenant
from app.models.types import utcnow
from app.storage import object_key


def make_export(app: Flask, tenant: Tenant, expires_in: timedelta) -> ExportJob:
    storage = app.extensions["storage"]
    key = object_key(tenant.id, "exports", ".csv")
    storage.save(key, io.BytesIO(b"email\na@example.com\n"))
    job = ExportJob(
        tenant_id=tenant.id,
        export_type="full",
        file_format="csv",
        status="completed",
        file_url=key,
        expires_at=utcnow() + expires_in,
    )
    db.session.add(job)
    db.session.commit()
    return job


def test_cleanup_job_deletes_expired_export_files_and_keeps_the_rows(
    app: Flask, tenant: Tenant
) -> None:
    storage = app.extensions["storage"]
    expired = make_export(app, tenant, timedelta(days=-1))
    fresh = make_export(app, tenant, timedelta(days=6))
    expired_key, fresh_key = expired.file_url, fresh.file_url

    job = enqueue_committed("maintenance", daily_cleanup)
    worker = SimpleWorker([get_queue("maintenance")], connection=redis_connection())
    assert worker.work(burst=True)

    job.refresh()
    assert job.get_status() == "finished", job.latest_result()
    assert job.return_value() == {
        "exports_expired": 1,
        "import_files_deleted": 0,
        "drafts_deleted": 0,
        "unused_uploads_deleted": 0,
    }
    db.session.expire_all()
    assert db.session.get(ExportJob, expired.id).status == "expired"
    assert db.session.get(ExportJob, expired.id).file_url is None
    assert not storage.exists(expired_key)
    assert db.session.get(ExportJob, fresh.id).status == "completed"
    assert storage.exists(fresh_key)


def test_scheduler_runs_the_cleanup_daily_at_four(app: Flask) -> None:
    scheduler = build_scheduler(redis_connection())
    cron_job = next(j for j in scheduler.get_jobs() if j.name == "daily_cleanup")
    assert cron_job.func is daily_cleanup
    assert cron_job.queue_name == "maintenance"
    assert DAILY_CLEANUP_CRON == "0 4 * * *"
    nxt = cron_job.get_next_enqueue_time()
    assert (nxt.hour, nxt.minute) == (4, 0)


def test_enqueue_commits_the_row_before_the_job_exists(app: Flask, tenant: Tenant) -> None:
    job = ExportJob(tenant_id=tenant.id, export_type="full", file_format="csv")
    db.session.add(job)
    enqueue_committed("maintenance", daily_cleanup)
    db.session.rollback()  # nothing left to roll back: the row was committed
    assert db.session.get(ExportJob, job.id) is not None


def test_scheduler_looks_for_stalled_imports_every_minute(app: Flask) -> None:
    from app.jobs.maintenance import recover_jobs

    job = next(
        j for j in build_scheduler(redis_connection()).get_jobs() if j.name == "recover_jobs"
    )
    assert job.func is recover_jobs and job.interval == 60 and job.queue_name == "maintenance"
