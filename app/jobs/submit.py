"""Queue the jobs: the one place that puts imports, rollbacks, dry runs and exports on RQ.

The services prepare and commit the job's row; the web layer, the API and the command line then
queue it here. Services never import the task functions, so tasks (which call the services) and
services do not import each other.
"""

from __future__ import annotations

import logging
import uuid

from redis.exceptions import RedisError

from app.exports.service import ExportRequest, create_export
from app.extensions import db
from app.imports.drafts import prepare_dry_run, prepare_import
from app.imports.rollback_job import start_rollback
from app.jobs.queue import enqueue_committed
from app.jobs.tasks import (
    DRY_RUN_OPTIONS,
    EXPORT_OPTIONS,
    IMPORT_OPTIONS,
    ROLLBACK_OPTIONS,
    dry_run_task,
    export_task,
    import_task,
    rollback_task,
)
from app.models import ExportJob, ImportJob
from app.models.jobs import ImportStatus

log = logging.getLogger(__name__)


def enqueue_import(job: ImportJob) -> None:
    """Queue the import (the row is committed first)."""
    job.status = ImportStatus.PENDING
    rq_job = enqueue_committed("imports", import_task, str(job.id), **IMPORT_OPTIONS)
    job.rq_job_id = rq_job.id
    db.session.commit()


def queue_rollback(job: ImportJob, force: bool = False) -> None:
    """Check a rollback is allowed (`start_rollback`), then queue it."""
    start_rollback(job, force=force)
    enqueue_committed("imports", rollback_task, str(job.id), **ROLLBACK_OPTIONS)


def enqueue_dry_run(job: ImportJob) -> None:
    """Queue a dry run whose row says pending (Redis down: the recovery queues it later)."""
    job.rq_job_id = enqueue_committed("imports", dry_run_task, str(job.id), **DRY_RUN_OPTIONS).id
    db.session.commit()


def queue_dry_run(job: ImportJob) -> None:
    """Mark a draft's dry run pending for its current options and queue it (unless one is
    running for them already)."""
    if prepare_dry_run(job):
        enqueue_dry_run(job)


def queue_draft_import(job: ImportJob) -> None:
    """Create the custom fields a draft's mapping names, then queue its import."""
    prepare_import(job)
    enqueue_import(job)


def enqueue_export(job: ExportJob) -> None:
    """Queue the export on the `exports` queue (the row is committed first)."""
    rq_job = enqueue_committed("exports", export_task, str(job.id), **EXPORT_OPTIONS)
    job.rq_job_id = rq_job.id
    db.session.commit()


def submit_export(
    tenant_id: uuid.UUID, request: ExportRequest, *, user_id: uuid.UUID | None = None
) -> ExportJob:
    """Commit an export job and queue it (`create_export`'s ExportRefused when it cannot run).

    Redis down: the row stays pending and `recover_stalled_exports` queues it once Redis
    answers again."""
    job = create_export(tenant_id, request, user_id=user_id)
    try:
        enqueue_export(job)
    except RedisError as exc:
        db.session.rollback()
        log.warning("export %s: the queue is not reachable (%s); queued later", job.id, exc)
    return job
