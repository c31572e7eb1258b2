"""Thin RQ task functions: load an id, push an app context, call the service."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rq import Callback, Retry, get_current_job
from rq.job import Job

from app.jobs.context import job_app_context
from app.jobs.locks import job_lock

log = logging.getLogger(__name__)

RETRY = Retry(max=3, interval=[10, 30, 120])


def _will_retry(job: Job) -> bool:
    return bool(job.retries_left and job.retries_left > 0)


def _message(exc_type: type[BaseException] | None, exc: BaseException | None) -> str:
    name = exc_type.__name__ if exc_type else "an unknown error"
    if name == "AbandonedJobError":
        return "The worker running this job stopped and the job could not be finished."
    if name == "OperationalError":  # SQLAlchemy's or psycopg's: the database went away
        return (
            "The database could not be reached, even after retrying for a few minutes. "
            "Every batch finished before that is kept; start the job again."
        )
    return f"The job stopped because of an internal error ({name}). Try again; if it fails again, contact support."


def _run_elsewhere(job_id: str) -> bool:
    """True when a worker holds the job's lock: another run of it (a recovered one) is at work.

    RQ reports an abandoned job long after its worker died, by which time the recovery may
    have started the job again; that run must not be marked failed under its feet.
    """
    with job_lock(uuid.UUID(job_id)) as free:
        if not free:
            log.warning("job %s: an earlier attempt failed, but another run is at work", job_id)
        return not free


def _mark_failed_when_given_up(
    job: Job,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    mark_failed: Callable[[str, str], object],
) -> None:
    """When RQ gives up on the job and no other run of it is at work, its row says failed
    and keeps the reason (`mark_failed(job_id, message)`)."""
    if _will_retry(job):
        return
    with job_app_context():
        if not _run_elsewhere(job.args[0]):
            mark_failed(job.args[0], _message(exc_type, exc))


def import_failed(job: Job, connection: Any, exc_type: Any, exc: Any, tb: Any) -> None:
    """Failure callback: when RQ gives up, the import row says failed and keeps the reason."""
    from app.imports.importing import mark_failed

    _mark_failed_when_given_up(job, exc_type, exc, mark_failed)


def rollback_failed(job: Job, connection: Any, exc_type: Any, exc: Any, tb: Any) -> None:
    """Failure callback for rollbacks."""
    from app.imports.rollback_job import mark_rollback_failed

    _mark_failed_when_given_up(job, exc_type, exc, mark_rollback_failed)


def dry_run_failed(job: Job, connection: Any, exc_type: Any, exc: Any, tb: Any) -> None:
    """Failure callback: a dry run that crashed says why instead of checking for ever."""
    from app.imports.dry_run import mark_dry_run_failed

    with job_app_context():
        mark_dry_run_failed(job.args[0], _message(exc_type, exc))


def export_failed(job: Job, connection: Any, exc_type: Any, exc: Any, tb: Any) -> None:
    """Failure callback: when RQ gives up, the export row says failed and keeps the reason."""
    from app.exports.service import mark_failed

    _mark_failed_when_given_up(job, exc_type, exc, mark_failed)


@contextmanager
def running(kind: str, job_id: str) -> Iterator[None]:
    """The app context a task runs in; its start logged with the RQ job's id beside ours."""
    with job_app_context():
        current = get_current_job()
        log.info("%s %s (rq %s)", kind, job_id, current.id if current else "-")
        yield


def import_task(job_id: str) -> dict[str, Any]:
    """Run or resume an import."""
    from app.imports.importing import run_import

    with running("import", job_id):
        job = run_import(job_id)
        return {"status": job.status, "processedRows": job.processed_rows}


def rollback_task(job_id: str) -> dict[str, Any]:
    """Run or resume a rollback."""
    from app.imports.rollback_job import run_rollback
    from app.imports.rollback_tally import RollbackTally, rollback_fields

    with running("rollback of import", job_id):
        job = run_rollback(job_id)
        return {"status": job.status, **rollback_fields(RollbackTally.of(job))}


def dry_run_task(job_id: str) -> dict[str, Any]:
    """Preview an import without writing."""
    from app.imports.dry_run import run_dry_run

    with running("dry run of import", job_id):
        return run_dry_run(job_id).to_stored()


def export_task(job_id: str) -> dict[str, Any]:
    """Run an export (from the start when a previous attempt died)."""
    from app.exports.service import run_export

    with running("export", job_id):
        job = run_export(job_id)
        return {"status": job.status, "processedContacts": job.processed_contacts}


IMPORT_OPTIONS: dict[str, Any] = {
    "retry": RETRY,
    "on_failure": Callback(import_failed),
    "job_timeout": 6 * 3600,
}
ROLLBACK_OPTIONS: dict[str, Any] = {
    "retry": RETRY,
    "on_failure": Callback(rollback_failed),
    "job_timeout": 6 * 3600,
}
DRY_RUN_OPTIONS: dict[str, Any] = {"job_timeout": 3600, "on_failure": Callback(dry_run_failed)}
EXPORT_OPTIONS: dict[str, Any] = {
    "retry": RETRY,
    "on_failure": Callback(export_failed),
    "job_timeout": 3 * 3600,
}
