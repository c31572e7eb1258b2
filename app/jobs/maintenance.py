"""Scheduled maintenance: remove files whose retention has run out."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, or_, select

from app.extensions import db
from app.imports.service import file_in_use
from app.jobs.context import job_app_context
from app.models import ImportJob, Tenant
from app.models.jobs import ImportStatus
from app.models.types import utcnow
from app.storage import Storage, kind_folder

log = logging.getLogger(__name__)

IMPORTS_IN_FLIGHT = (ImportStatus.PENDING, ImportStatus.PROCESSING)
"""Imports whose uploaded file is still needed, however old they are."""


@dataclass(frozen=True)
class CleanupResult:
    """How many files and drafts the clean-up removed."""

    exports_expired: int
    import_files_deleted: int
    drafts_deleted: int = 0
    unused_uploads_deleted: int = 0


def expire_drafts(storage: Storage, now: datetime | None = None) -> int:
    """Delete unfinished imports (wizard drafts, API dry runs) older than FILE_RETENTION_DAYS.

    A draft never wrote a contact nor a row error, so only the row and its file go. A draft
    confirmed while this runs is an import by then and is left alone.
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["FILE_RETENTION_DAYS"])
    keys = db.session.scalars(
        delete(ImportJob)
        .where(ImportJob.status == ImportStatus.DRAFT, ImportJob.created_at <= cutoff)
        .returning(ImportJob.file_url)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    for key in keys:
        if key and not file_in_use(key):  # a follow-up draft shares its first import's file
            storage.delete(key)
    return len(keys)


def expire_unused_uploads(storage: Storage, now: datetime | None = None) -> int:
    """Delete uploaded files no import refers to once they are older than FILE_RETENTION_DAYS.

    Files sent to `POST /api/uploads` (or straight to S3 after `POST /api/uploads/presign`) that
    were never imported would otherwise stay for ever.
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["FILE_RETENTION_DAYS"])
    deleted = 0
    for tenant_id in db.session.scalars(select(Tenant.id)).all():
        keys = list(storage.keys_older_than(kind_folder(tenant_id, "uploads"), cutoff))
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            used = set(
                db.session.scalars(select(ImportJob.file_url).where(ImportJob.file_url.in_(chunk)))
            )
            for key in chunk:
                if key not in used:
                    storage.delete(key)
                    deleted += 1
    return deleted


def expire_import_files(storage: Storage, now: datetime | None = None) -> int:
    """Delete uploaded files and error reports of imports older than FILE_RETENTION_DAYS.

    The import rows (counts, journal, history) are kept; only their file keys are cleared.
    Imports still pending or running keep their file; drafts are removed whole by expire_drafts.
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["FILE_RETENTION_DAYS"])
    jobs = db.session.scalars(
        select(ImportJob).where(
            ImportJob.created_at <= cutoff,
            ImportJob.status.not_in((*IMPORTS_IN_FLIGHT, ImportStatus.DRAFT)),
            or_(ImportJob.file_url.is_not(None), ImportJob.error_report_key.is_not(None)),
        )
    ).all()
    deleted = 0
    for job in jobs:
        waiting = (*IMPORTS_IN_FLIGHT, ImportStatus.DRAFT)
        if job.file_url and file_in_use(job.file_url, besides=job.id, statuses=waiting):
            continue  # its follow-up is being corrected or runs: next time
        for key in (job.file_url, job.error_report_key):
            if key:
                storage.delete(key)
                deleted += 1
        job.file_url = None
        job.error_report_key = None
        db.session.commit()
    return deleted


def run_cleanup(now: datetime | None = None) -> CleanupResult:
    """The daily clean-up, callable from the CLI and from the scheduler's job."""
    from app.exports.service import expire_exports

    storage: Storage = current_app.extensions["storage"]
    result = CleanupResult(
        exports_expired=expire_exports(storage, now),
        drafts_deleted=expire_drafts(storage, now),
        import_files_deleted=expire_import_files(storage, now),
        unused_uploads_deleted=expire_unused_uploads(storage, now),
    )
    log.info(
        "clean-up: %d expired export files, %d import files, %d unfinished imports and "
        "%d never-imported uploads deleted",
        result.exports_expired,
        result.import_files_deleted,
        result.drafts_deleted,
        result.unused_uploads_deleted,
    )
    return result


def daily_cleanup() -> dict[str, int]:
    """RQ job: run the clean-up inside an app context."""
    with job_app_context():
        return run_cleanup().__dict__


def recover_jobs() -> dict[str, int]:
    """RQ job: queue again the imports, rollbacks and exports a dead worker or Redis lost."""
    from app.jobs.recovery import recover_stalled_exports, recover_stalled_jobs

    with job_app_context():
        return {**recover_stalled_jobs(), "exports": recover_stalled_exports()}
