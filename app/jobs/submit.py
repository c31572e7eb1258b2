"""Queue the import domain's jobs: the one place that puts imports, rollbacks and dry runs on RQ.

The services prepare and commit the job's row; the web layer, the API and the command line then
queue it here. Services never import the task functions, so tasks (which call the services) and
services do not import each other.
"""

from __future__ import annotations

from app.extensions import db
from app.imports.rollback_job import start_rollback
from app.jobs.queue import enqueue_committed
from app.jobs.tasks import (
    DRY_RUN_OPTIONS,
    IMPORT_OPTIONS,
    ROLLBACK_OPTIONS,
    dry_run_task,
    import_task,
    rollback_task,
)
from app.models import ImportJob


def enqueue_import(job: ImportJob) -> None:
    """Queue the import (the row is committed first)."""
    job.status = "pending"
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
