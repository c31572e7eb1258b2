"""Queue again the jobs a dead worker or a lost Redis left behind."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import current_app
from rq.job import Job
from sqlalchemy import select

from app.exports.service import stalled_exports
from app.extensions import db
from app.jobs.queue import enqueue_committed, redis_connection
from app.jobs.submit import enqueue_export
from app.jobs.tasks import (
    DRY_RUN_OPTIONS,
    IMPORT_OPTIONS,
    ROLLBACK_OPTIONS,
    dry_run_task,
    import_task,
    rollback_task,
)
from app.models import (
    ImportJob,
)
from app.models.jobs import ImportStatus, RunStatus
from app.models.types import utcnow

log = logging.getLogger(__name__)


def recover_stalled_jobs(stale_after: int | None = None) -> dict[str, int]:
    """Queue again the imports, rollbacks and dry runs a dead worker left behind, and the ones
    Redis lost (or that could not be queued while it was down).

    A job whose heartbeat is older than `stale_after` seconds (JOB_STALE_SECONDS, 120 by
    default: longer than any batch takes), or whose queued RQ job no longer
    exists, is enqueued again; it resumes from its checkpoint, and the advisory lock makes a
    second copy of a job that is in fact still running exit at once.
    """
    connection = redis_connection()
    if stale_after is None:
        stale_after = current_app.config["JOB_STALE_SECONDS"]
    cutoff = utcnow() - timedelta(seconds=stale_after)
    requeued = {"imports": 0, "rollbacks": 0, "dry_runs": 0}

    def lost(job: ImportJob) -> bool:
        return not job.rq_job_id or not Job.exists(job.rq_job_id, connection=connection)

    def requeue(kind: str, state: Any, task: Any, options: dict[str, Any], *where: Any) -> None:
        """Queue again the jobs whose `state` is pending and lost, or processing and stale."""
        for job in db.session.scalars(
            select(ImportJob).where(state.in_((RunStatus.PENDING, RunStatus.PROCESSING)), *where)
        ):
            status = getattr(job, state.key)
            stale = status == RunStatus.PROCESSING and (job.heartbeat_at or job.created_at) < cutoff
            if stale or (status == RunStatus.PENDING and lost(job)):
                job.rq_job_id = enqueue_committed("imports", task, str(job.id), **options).id
                db.session.commit()
                requeued[kind] += 1
                log.warning("%s: %s re-queued (stale=%s)", kind, job.id, stale)

    requeue("imports", ImportJob.status, import_task, IMPORT_OPTIONS)
    for job in db.session.scalars(
        select(ImportJob).where(
            ImportJob.rollback_status.in_((RunStatus.PENDING, RunStatus.PROCESSING))
        )
    ):
        if (job.heartbeat_at or job.created_at) < cutoff:
            job.heartbeat_at = utcnow()
            enqueue_committed("imports", rollback_task, str(job.id), **ROLLBACK_OPTIONS)
            requeued["rollbacks"] += 1
            log.warning("rollback of %s re-queued", job.id)
    requeue(
        "dry_runs",
        ImportJob.dry_run_status,
        dry_run_task,
        DRY_RUN_OPTIONS,
        ImportJob.status == ImportStatus.DRAFT,
    )
    return requeued


def recover_stalled_exports() -> int:
    """Queue again the exports a dead worker left running and the pending ones Redis lost
    (`app.exports.service.stalled_exports`); returns how many."""
    stalled = stalled_exports()
    for job, reason in stalled:
        enqueue_export(job)
        log.warning("export %s: %s; queued again", job.id, reason)
    return len(stalled)
