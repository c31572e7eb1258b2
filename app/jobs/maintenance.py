"""Scheduled maintenance: remove files whose retention has run out."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select

from app.extensions import db
from app.jobs.context import job_app_context
from app.models import ImportJob
from app.models.types import utcnow
from app.storage import Storage

log = logging.getLogger(__name__)

IMPORTS_IN_FLIGHT = ("pending", "processing")
"""Imports whose uploaded file is still needed, however old they are."""


@dataclass(frozen=True)
class CleanupResult:
    """How many files the clean-up removed."""

    exports_expired: int
    import_files_deleted: int


def expire_import_files(storage: Storage, now: datetime | None = None) -> int:
    """Delete uploaded files and error reports of imports older than FILE_RETENTION_DAYS.

    The import rows (counts, journal, history) are kept; only their file keys are cleared.
    Imports still pending or running keep their file.
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["FILE_RETENTION_DAYS"])
    jobs = db.session.scalars(
        select(ImportJob).where(
            ImportJob.created_at <= cutoff,
            ImportJob.status.not_in(IMPORTS_IN_FLIGHT),
            or_(ImportJob.file_url.is_not(None), ImportJob.error_report_key.is_not(None)),
        )
    ).all()
    deleted = 0
    for job in jobs:
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
    expired = expire_exports(storage, now)
    import_files = expire_import_files(storage, now)
    log.info("clean-up: %d expired export files and %d import files deleted", expired, import_files)
    return CleanupResult(exports_expired=expired, import_files_deleted=import_files)


def daily_cleanup() -> dict[str, int]:
    """RQ job: run the clean-up inside an app context."""
    with job_app_context():
        return run_cleanup().__dict__


def recover_jobs() -> dict[str, int]:
    """RQ job: queue again the imports, rollbacks and exports a dead worker or Redis lost."""
    from app.exports.service import recover_stalled_exports
    from app.imports.service import recover_stalled_jobs

    with job_app_context():
        return {**recover_stalled_jobs(), "exports": recover_stalled_exports()}
