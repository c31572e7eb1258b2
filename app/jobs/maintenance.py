"""Scheduled maintenance: remove files whose retention has run out."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.jobs.context import job_app_context
from app.models import ExportJob
from app.models.types import utcnow
from app.storage import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CleanupResult:
    """How many files the clean-up removed."""

    exports_expired: int


def expire_exports(storage: Storage) -> int:
    """Delete the files of exports past their expiry and mark the rows `expired` (kept for history)."""
    now = utcnow()
    jobs = db.session.scalars(
        select(ExportJob).where(ExportJob.status == "completed", ExportJob.expires_at <= now)
    ).all()
    for job in jobs:
        if job.file_url:
            storage.delete(job.file_url)
        job.status = "expired"
        job.file_url = None
    db.session.commit()
    return len(jobs)


def run_cleanup() -> CleanupResult:
    """The daily clean-up, callable from the CLI and from the scheduler's job."""
    storage: Storage = current_app.extensions["storage"]
    expired = expire_exports(storage)
    log.info("clean-up: %d expired export files deleted", expired)
    return CleanupResult(exports_expired=expired)


def daily_cleanup() -> dict[str, int]:
    """RQ job: run the clean-up inside an app context."""
    with job_app_context():
        return run_cleanup().__dict__


def recover_jobs() -> dict[str, int]:
    """RQ job: queue again the imports and rollbacks that a dead worker or Redis lost."""
    from app.imports.service import recover_stalled_jobs

    with job_app_context():
        return recover_stalled_jobs()
