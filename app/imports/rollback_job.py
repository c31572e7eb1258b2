"""Rolling back an import as a job: refuse what cannot be done, then undo it batch by batch."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from flask import current_app
from sqlalchemy import Connection, func, select, update

from app.extensions import db
from app.imports.rollback import delete_created, revert_batch
from app.imports.rollback_sql import refresh_statistics
from app.imports.rollback_tally import Part, RollbackStep, RollbackTally
from app.imports.service import BATCH_RETRIES, DB_ERRORS, ImportRefused, existing_import
from app.jobs.locks import run_alone
from app.models import (
    Contact,
    ImportEvent,
    ImportJob,
    NotifiedObject,
    Segment,
    Tag,
    contact_tags,
    segment_contacts,
)
from app.models.jobs import ImportStatus, RunStatus
from app.models.types import utcnow
from app.notifications import notify

log = logging.getLogger(__name__)


def start_rollback(job: ImportJob, force: bool = False) -> None:
    """Check a rollback is allowed and commit it as pending (`app.jobs.submit` queues it)."""
    if job.status in (ImportStatus.DRAFT, ImportStatus.PENDING, ImportStatus.PROCESSING):
        raise ImportRefused(
            "This import is still running: cancel it or wait until it ends, then roll it back."
        )
    if job.status == ImportStatus.ROLLED_BACK or not job.can_rollback:
        raise ImportRefused("This import has already been rolled back.")
    if job.rollback_status in (RunStatus.PENDING, RunStatus.PROCESSING):
        raise ImportRefused("A rollback of this import is already under way.")
    resumed = (
        job.rollback_status == RunStatus.FAILED
    )  # go on from where it stopped, with its counts
    job.rollback_status = RunStatus.PENDING
    job.heartbeat_at = utcnow()
    job.rollback_force = force
    if not resumed:
        job.rollback_processed = 0
        job.rollback_result = None
        job.rollback_total = (
            db.session.scalar(
                select(func.count(ImportEvent.id)).where(
                    ImportEvent.import_job_id == job.id, ImportEvent.reverted_at.is_(None)
                )
            )
            or 0
        ) + (
            db.session.scalar(
                select(func.count(Contact.id)).where(Contact.created_by_import_id == job.id)
            )
            or 0
        )
    elif (tally := RollbackTally.of(job)) is not None:
        tally.error = None
        job.rollback_result = tally.to_stored()
    db.session.commit()


def run_rollback(job_id: uuid.UUID | str, batch_size: int | None = None) -> ImportJob:
    """Undo an import from its journal; resumable after a crash."""
    batch_size = batch_size or current_app.config["ROLLBACK_BATCH_SIZE"]
    job = existing_import(job_id)
    if job.rollback_status not in (RunStatus.PENDING, RunStatus.PROCESSING):
        return job
    return run_alone(job, "the rollback of import", lambda: _run_rollback(job, batch_size))


def _run_rollback(job: ImportJob, batch_size: int) -> ImportJob:
    db.session.refresh(job)
    if job.rollback_status not in (RunStatus.PENDING, RunStatus.PROCESSING):
        return job
    job.rollback_status = RunStatus.PROCESSING
    job.heartbeat_at = utcnow()
    db.session.commit()
    parts = (RollbackTally.of(job) or RollbackTally()).parts(_connections())
    refresh_statistics(db.session.connection())
    db.session.commit()  # the slices write the job on their own connections: nothing held here
    if len(parts) == 1:
        _run_part(job.id, parts[0], job.rollback_force, batch_size, threading.Event())
    else:
        _run_parts(job.id, parts, job.rollback_force, batch_size)
    db.session.refresh(job)
    tally = RollbackTally.of(job) or RollbackTally()
    _remove_created_labels(job)
    tally.positions = {}
    job.status = ImportStatus.ROLLED_BACK
    job.rolled_back_at = utcnow()
    job.can_rollback = False
    job.rollback_status = RunStatus.COMPLETED
    job.rollback_result = tally.to_stored()
    db.session.commit()
    kept = f", {tally.kept:,} kept because they changed since" if tally.kept else ""
    notify(
        job.tenant_id,
        job.created_by,
        "rollback",
        f"Rollback of {job.file_name} finished: {tally.deleted:,} contacts deleted, "
        f"{tally.restored:,} restored{kept}.",
        (NotifiedObject.IMPORT, job.id),
    )
    return job


def _connections() -> int:
    """How many connections a new rollback runs on: ROLLBACK_CONNECTIONS on PostgreSQL (its
    statements are most of a rollback's time, one backend a core), one on SQLite (one writer)."""
    if db.engine.dialect.name != "postgresql":
        return 1
    return max(1, int(current_app.config["ROLLBACK_CONNECTIONS"]))


def _run_parts(job_id: uuid.UUID, parts: list[Part], force: bool, batch_size: int) -> None:
    """Run the slices side by side, a thread and a connection each; the first failure stops the
    others at their next batch and is raised (what they committed stays, to resume from)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stop = threading.Event()

    def run(part: Part) -> None:
        with app.app_context():
            try:
                _run_part(job_id, part, force, batch_size, stop)
            except BaseException:
                stop.set()
                raise

    with ThreadPoolExecutor(len(parts), thread_name_prefix="rollback") as pool:
        futures = [pool.submit(run, part) for part in parts]
    for future in futures:
        future.result()


def _run_part(
    job_id: uuid.UUID, part: Part, force: bool, batch_size: int, stop: threading.Event
) -> None:
    """Undo a slice on a connection of its own: what the import changed on contacts that
    existed, newest row first, then the contacts it created; each batch committed with the
    slice's position, so a killed or failed rollback resumes after it."""
    work = RollbackStep(job_id, force, batch_size, part)
    for attempt in range(1, BATCH_RETRIES + 1):
        try:
            with db.engine.connect() as conn:
                stored = conn.scalar(
                    select(ImportJob.rollback_result).where(ImportJob.id == job_id)
                )
                tally = (RollbackTally.from_stored(stored) or RollbackTally()).resume(part)
                conn.commit()
                for step in (revert_batch, delete_created):
                    while not stop.is_set():
                        batch = RollbackTally(
                            journal_before=tally.journal_before, created_after=tally.created_after
                        )
                        count = step(conn, work, batch)
                        if count is None:
                            break
                        _commit_batch(conn, job_id, part, count, batch)
                        tally = batch
            return
        except DB_ERRORS as exc:
            if attempt == BATCH_RETRIES or stop.is_set():
                raise
            log.warning(
                "rollback of %s (%s): batch retried (%s: %s)",
                job_id,
                part.key,
                type(exc).__name__,
                exc,
            )
            time.sleep(min(0.2 * 2**attempt, 5))


def _commit_batch(
    conn: Connection, job_id: uuid.UUID, part: Part, count: int, batch: RollbackTally
) -> None:
    """Commit a slice's batch with the rollback's totals and the slice's position. The job row
    is locked last, after the batch's contacts, so two slices wait for each other only here."""
    stored = conn.scalar(
        select(ImportJob.rollback_result).where(ImportJob.id == job_id).with_for_update()
    )
    tally = RollbackTally.from_stored(stored) or RollbackTally()
    tally.add(batch, part)
    conn.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id)
        .values(
            rollback_processed=ImportJob.rollback_processed + count,
            rollback_result=tally.to_stored(),
            heartbeat_at=utcnow(),
        )
    )
    conn.commit()


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
    job = db.session.get(ImportJob, uuid.UUID(str(job_id)), populate_existing=True)
    if job is None or job.rollback_status not in (RunStatus.PENDING, RunStatus.PROCESSING):
        return
    job.rollback_status = RunStatus.FAILED
    tally = RollbackTally.of(job) or RollbackTally()
    tally.error = message
    job.rollback_result = tally.to_stored()
    db.session.commit()
