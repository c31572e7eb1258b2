"""Rolling back an import as a job: refuse what cannot be done, then undo it batch by batch."""

from __future__ import annotations

import logging
import time
import uuid

from flask import current_app
from sqlalchemy import func, select, update

from app.extensions import db
from app.imports.rollback import delete_created, revert_batch
from app.imports.rollback_sql import refresh_statistics
from app.imports.rollback_tally import RollbackTally
from app.imports.service import BATCH_RETRIES, DB_ERRORS, ImportRefused, discard_transaction
from app.jobs.locks import job_lock
from app.models import (
    Contact,
    ImportEvent,
    ImportJob,
    Segment,
    Tag,
    contact_tags,
    segment_contacts,
)
from app.models.types import utcnow
from app.notifications import notify

log = logging.getLogger(__name__)


def start_rollback(job: ImportJob, force: bool = False) -> None:
    """Check a rollback is allowed and commit it as pending (`app.jobs.submit` queues it)."""
    if job.status in ("draft", "pending", "processing"):
        raise ImportRefused(
            "This import is still running: cancel it or wait until it ends, then roll it back."
        )
    if job.status == "rolled_back" or not job.can_rollback:
        raise ImportRefused("This import has already been rolled back.")
    if job.rollback_status in ("pending", "processing"):
        raise ImportRefused("A rollback of this import is already under way.")
    resumed = job.rollback_status == "failed"  # go on from where it stopped, with its counts
    job.rollback_status = "pending"
    job.heartbeat_at = utcnow()
    job.rollback_force = force
    if not resumed:
        job.rollback_processed = 0
        job.rollback_result = None
        job.rollback_total = db.session.scalar(
            select(func.count(ImportEvent.id)).where(
                ImportEvent.import_job_id == job.id, ImportEvent.reverted_at.is_(None)
            )
        ) + db.session.scalar(
            select(func.count(Contact.id)).where(Contact.created_by_import_id == job.id)
        )
    elif job.rollback_result:
        job.rollback_result = {k: v for k, v in job.rollback_result.items() if k != "error"}
    db.session.commit()


def run_rollback(job_id: uuid.UUID | str, batch_size: int | None = None) -> ImportJob:
    """Undo an import from its journal; resumable after a crash."""
    batch_size = batch_size or current_app.config["ROLLBACK_BATCH_SIZE"]
    job = db.session.get(ImportJob, uuid.UUID(str(job_id)))
    if job is None:
        raise ImportRefused(f"There is no import {job_id}.")
    if job.rollback_status not in ("pending", "processing"):
        return job
    with job_lock(job.id) as acquired:
        if not acquired:
            log.info("rollback of %s is being run by another worker", job.id)
            return job
        return _run_rollback(job, batch_size)


def _run_rollback(job: ImportJob, batch_size: int) -> ImportJob:
    db.session.refresh(job)
    if job.rollback_status not in ("pending", "processing"):
        return job
    job.rollback_status = "processing"
    job.heartbeat_at = utcnow()
    db.session.commit()
    refresh_statistics(db.session.connection())
    db.session.commit()
    tally = RollbackTally.from_dict(job.rollback_result)
    for attempt in range(1, BATCH_RETRIES + 1):
        try:
            if attempt > 1:  # what the failed batch counted was not committed
                db.session.refresh(job)
                tally = RollbackTally.from_dict(job.rollback_result)
            while True:  # what it changed on contacts that existed, newest row first
                count = revert_batch(
                    db.session.connection(), job.id, tally, job.rollback_force, batch_size
                )
                if not count:
                    break
                _rollback_progress(job, count, tally)
            while True:  # then the contacts it created
                count = delete_created(
                    db.session.connection(), job.id, tally, job.rollback_force, batch_size
                )
                if not count:
                    break
                _rollback_progress(job, count, tally)
            break
        except DB_ERRORS as exc:
            discard_transaction()
            if attempt == BATCH_RETRIES:
                raise
            log.warning("rollback of %s: batch retried (%s: %s)", job.id, type(exc).__name__, exc)
            time.sleep(min(0.2 * 2**attempt, 5))
    db.session.refresh(job)
    _remove_created_labels(job)
    tally.journal_before = tally.created_after = None
    job.status = "rolled_back"
    job.rolled_back_at = utcnow()
    job.can_rollback = False
    job.rollback_status = "completed"
    job.rollback_result = tally.as_dict()
    db.session.commit()
    kept = f", {tally.kept:,} kept because they changed since" if tally.kept else ""
    notify(
        job.tenant_id,
        job.created_by,
        "rollback",
        f"Rollback of {job.file_name} finished: {tally.deleted:,} contacts deleted, "
        f"{tally.restored:,} restored{kept}.",
        f"/imports/{job.id}",
    )
    return job


def _rollback_progress(job: ImportJob, count: int, tally: RollbackTally) -> None:
    """Commit a rollback batch with its progress, so a killed rollback resumes after it."""
    db.session.execute(
        update(ImportJob)
        .where(ImportJob.id == job.id)
        .values(
            rollback_processed=ImportJob.rollback_processed + count,
            rollback_result=tally.as_dict(),
            heartbeat_at=utcnow(),
        )
    )
    db.session.commit()


def _remove_created_labels(job: ImportJob) -> None:
    """Delete the segment and the tags this import created, when nothing uses them any more."""
    if job.created_segment and job.segment_id:
        members = db.session.scalar(
            select(func.count())
            .select_from(segment_contacts)
            .where(segment_contacts.c.segment_id == job.segment_id)
        )
        if not members:
            db.session.execute(Segment.__table__.delete().where(Segment.id == job.segment_id))
    delete_unused_tags([uuid.UUID(t) for t in job.created_tag_ids or []])


def delete_unused_tags(tag_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """Delete the tags among these that no contact has; returns the deleted ids.

    Links have no foreign key to tags (migration 0013). The tag is locked first (FOR UPDATE):
    a batch that is linking contacts to it holds a share lock until it commits, and the count
    that follows, a statement of its own, then sees that batch's links.
    """
    deleted = []
    for tid in sorted(tag_ids):
        if db.session.scalar(select(Tag.id).where(Tag.id == tid).with_for_update()) is None:
            continue
        used = db.session.scalar(
            select(func.count()).select_from(contact_tags).where(contact_tags.c.tag_id == tid)
        )
        if not used:
            db.session.execute(Tag.__table__.delete().where(Tag.id == tid))
            deleted.append(tid)
    return deleted


def mark_rollback_failed(job_id: uuid.UUID | str, message: str) -> None:
    """Record that a rollback gave up; what it undid stays undone and it can be started again."""
    job = db.session.get(ImportJob, uuid.UUID(str(job_id)))
    if job is None or job.rollback_status not in ("pending", "processing"):
        return
    job.rollback_status = "failed"
    result = dict(job.rollback_result or {})
    result["error"] = message
    job.rollback_result = result
    db.session.commit()
