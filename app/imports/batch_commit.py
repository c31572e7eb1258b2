"""Writing one batch of an import with its errors, counts and checkpoint, in one transaction.

`importing` reads the file and hands each batch here; the writer is set-based SQL over COPY
text on PostgreSQL (`staged_write`) and Python plans on SQLite (`upsert`, `batch_write`). A
batch that meets a concurrent import or a dropped connection is retried; the checkpoint,
committed with it, says whether a batch whose COMMIT went unanswered went in.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.imports.batch_lookups import fetch_earlier_rows, fetch_existing
from app.imports.batch_write import write_batch
from app.imports.bulk import insert_rows, without_jit
from app.imports.copy_lines import RowEncoder
from app.imports.mapping import FieldTarget
from app.imports.pipeline import Encoder, ValidatedBatch, error_dict
from app.imports.service import BATCH_RETRIES, DB_ERRORS, discard_transaction
from app.imports.staged_write import BatchOutcome, RowCounts, StagedWriter, mapped_fields
from app.imports.upsert import ConcurrentInsert, ImportSettings, batch_rounds, plan_batch
from app.models import ImportJob, ImportRowError
from app.models.types import utcnow

log = logging.getLogger(__name__)


ERRORS_KEPT_ON_JOB = 1000


@dataclass
class Progress(RowCounts):
    """Counts of a running import, loaded from the job so a resumed run continues them."""

    processed: int = 0
    errors: int = 0
    first_errors: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, job: ImportJob) -> Progress:
        """The counts committed so far."""
        return cls(
            processed=job.checkpoint_row or 0,
            created=job.created_count or 0,
            updated=job.updated_count or 0,
            unchanged=job.unchanged_count or 0,
            skipped=job.skipped_count or 0,
            errors=job.error_count or 0,
            unsubscribed=job.unsubscribed_matches or 0,
            repeated=job.repeated_count or 0,
            first_errors=list(job.errors or []),
        )


def encoder() -> Encoder | None:
    """How the reading side will hand clean rows to the writer, before the writer is built:
    COPY text for the set-based writer on PostgreSQL, row objects for SQLite's Python plans
    (`staged_writer`)."""
    return RowEncoder() if db.session.get_bind().dialect.name == "postgresql" else None


def staged_writer(settings: ImportSettings, targets: dict[str, FieldTarget]) -> StagedWriter | None:
    """The set-based writer on PostgreSQL; None on SQLite, where Python plans each batch."""
    if db.session.get_bind().dialect.name != "postgresql":
        return None
    return StagedWriter(settings, *mapped_fields(targets))


class BatchWriter:
    """Writes a batch's clean rows: set-based SQL over COPY text, or Python plans (SQLite)."""

    def __init__(self, settings: ImportSettings, staged: StagedWriter | None) -> None:
        self.settings = settings
        self.staged = staged

    def write(self, batch: ValidatedBatch) -> BatchOutcome:
        conn = db.session.connection()
        without_jit(conn)
        if batch.staged is not None:
            assert self.staged is not None  # nosec B101 # staged text comes only with a writer
            return self.staged.write(conn, batch.staged)
        outcome = BatchOutcome()
        for rows, seen in batch_rounds(batch.rows):
            emails = sorted({r.email_normalized for r in rows})
            existing = fetch_existing(conn, self.settings.tenant_id, emails)
            earlier = fetch_earlier_rows(conn, self.settings.job_id, existing)
            plan = plan_batch(rows, existing, earlier, self.settings, seen or None)
            outcome.created_tag_ids += write_batch(conn, plan, self.settings).created_tag_ids
            outcome.add_plan(plan)
        return outcome


def commit_batch(
    job: ImportJob, writer: BatchWriter, batch: ValidatedBatch, progress: Progress
) -> bool:
    """Write one batch with its journal, errors and checkpoint in one transaction (retried).

    Returns True, writing nothing, when a Cancel was asked for since the last batch. A connection
    lost during COMMIT leaves it unknown whether the batch went in; the checkpoint, written in the
    same transaction, tells.
    """
    for attempt in range(1, BATCH_RETRIES + 1):
        try:
            if attempt > 1:
                db.session.refresh(job)
                if (job.checkpoint_row or 0) >= progress.processed + batch.consumed:
                    log.info("import %s: the retried batch had been committed", job.id)
                    progress.__dict__.update(Progress.of(job).__dict__)
                    return False
            return write_one_batch(job, writer, batch, progress)
        except (
            ConcurrentInsert,
            IntegrityError,
            psycopg.IntegrityError,  # a duplicate link from a concurrent import, seen by COPY
            *DB_ERRORS,
        ) as exc:
            discard_transaction()
            if attempt == BATCH_RETRIES:
                raise
            log.warning("import %s: batch retried (%s: %s)", job.id, type(exc).__name__, exc)
            time.sleep(min(0.2 * 2**attempt, 5))
    raise RuntimeError("not reached: the last attempt returns or raises")


def write_one_batch(
    job: ImportJob, writer: BatchWriter, batch: ValidatedBatch, progress: Progress
) -> bool:
    # the job's id from the settings: `job.id` after a commit reloads the whole job row, errors
    # list included (up to 1,000 entries decoded again for every batch)
    job_id = writer.settings.job_id
    if db.session.scalar(select(ImportJob.cancel_requested).where(ImportJob.id == job_id)):
        db.session.rollback()
        return True
    written = writer.write(batch)
    conn = db.session.connection()
    insert_rows(
        conn,
        ImportRowError.__table__,
        [
            {
                "import_job_id": job_id,
                "row_number": e.row,
                "column": e.column,
                "value": e.value[:2000] if e.value else e.value,
                "message": e.message,
                "raw": raw,
            }
            for e, raw in batch.errors
        ],
    )
    done = replace(
        progress,
        processed=progress.processed + batch.consumed,
        errors=progress.errors + len({e.row for e, _ in batch.errors}),
    )
    done.add(written)
    room = ERRORS_KEPT_ON_JOB - len(progress.first_errors)
    new_errors = [error_dict(e) for e, _ in batch.errors[: max(room, 0)]]
    values: dict[str, Any] = {
        "processed_rows": done.processed,
        "checkpoint_row": done.processed,
        "created_count": done.created,
        "updated_count": done.updated,
        "unchanged_count": done.unchanged,
        "skipped_count": done.skipped,
        "error_count": done.errors,
        "imported_count": done.created + done.updated + done.unchanged + done.repeated,
        "unsubscribed_matches": done.unsubscribed,
        "repeated_count": done.repeated,
        "heartbeat_at": utcnow(),
    }
    if new_errors:
        values["errors"] = progress.first_errors + new_errors
    if written.created_tag_ids:
        values["created_tag_ids"] = (job.created_tag_ids or []) + [
            str(t) for t in written.created_tag_ids
        ]
    db.session.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values))
    db.session.commit()
    progress.__dict__.update(done.__dict__)
    if new_errors:
        progress.first_errors = progress.first_errors + new_errors
    return False
