"""Exports a dead worker or a Redis restart left behind are queued again, and only those."""

from __future__ import annotations

from flask import Flask

from app.extensions import db
from app.jobs.locks import job_lock
from app.jobs.queue import get_queue, redis_connection
from app.jobs.recovery import recover_stalled_exports
from app.models import ExportJob, Tenant
from tests.exports.conftest import export_now


def _job(tenant: Tenant, status: str) -> ExportJob:
    job = export_now(tenant)
    job.status, job.file_url, job.rq_job_id = status, None, None
    db.session.commit()
    return job


def test_running_export_with_a_live_worker_is_left_alone(app: Flask, tenant: Tenant) -> None:
    job = _job(tenant, "processing")
    with job_lock(job.id) as held:  # a worker holds the lock while it runs the export
        assert held
        assert recover_stalled_exports() == 0
    assert get_queue("exports").count == 0


def test_running_export_whose_worker_died_is_queued_again(app: Flask, tenant: Tenant) -> None:
    job = _job(tenant, "processing")
    assert recover_stalled_exports() == 1
    db.session.refresh(job)
    assert get_queue("exports").job_ids == [job.rq_job_id]


def test_pending_export_whose_queue_entry_was_lost_is_queued_again(
    app: Flask, tenant: Tenant
) -> None:
    job = _job(tenant, "pending")
    job.rq_job_id = "lost-with-redis"
    db.session.commit()
    assert recover_stalled_exports() == 1
    assert recover_stalled_exports() == 0  # now queued: not twice
    db.session.refresh(job)
    assert redis_connection().exists(f"rq:job:{job.rq_job_id}")
