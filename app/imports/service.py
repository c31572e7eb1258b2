"""The import service: create, run, cancel, dry-run and roll back imports.

The web wizard, the API and the command line call these functions; RQ task functions are thin
wrappers around `run_import`, `run_dry_run` and `run_rollback`.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import queue
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

import psycopg
from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from app.exports.writers import neutralize
from app.extensions import db
from app.imports.bulk import insert_rows
from app.imports.mapping import FieldTarget
from app.imports.options import ImportOptions, OptionsError
from app.imports.parsing import FileFormatError, ReaderLimits, count_data_rows, open_table
from app.imports.preview import error_report_header
from app.imports.rollback import delete_created, revert_batch
from app.imports.rollback_tally import RollbackTally
from app.imports.upsert import (
    REPEATS_KEPT,
    ConcurrentInsert,
    ImportSettings,
    fetch_earlier_rows,
    fetch_existing,
    plan_batch,
    write_batch,
)
from app.imports.validation import (
    CleanRow,
    RowError,
    RowValidator,
    ValidationOptions,
    email_domain_typo,
)
from app.jobs.locks import job_lock
from app.models import (
    Contact,
    CustomField,
    ImportEvent,
    ImportJob,
    ImportRowError,
    Segment,
    Tag,
    Workspace,
    contact_tags,
    segment_contacts,
)
from app.models.types import utcnow
from app.notifications import notify
from app.storage import Storage, StorageError, object_key

log = logging.getLogger(__name__)

ERRORS_KEPT_ON_JOB = 1000
BATCH_RETRIES = 5
DB_ERRORS = (OperationalError, DBAPIError, psycopg.OperationalError)
"""A lost or refused database connection, seen by SQLAlchemy or by a raw COPY cursor."""
SUFFIXES = {"csv": ".csv", "xlsx": ".xlsx", "json": ".json"}


class ImportRefused(Exception):
    """The request cannot be done now; the message says why in one sentence."""


def storage() -> Storage:
    """The app's storage."""
    return current_app.extensions["storage"]


# --- creating ------------------------------------------------------------------------------


def store_upload(tenant_id: uuid.UUID, stream: BinaryIO, file_name: str) -> tuple[str, int]:
    """Stream an uploaded file into storage under a tenant-scoped key; returns key and size."""
    suffix = Path(file_name).suffix.lower()
    suffix = (
        suffix if suffix in (".csv", ".tsv", ".txt", ".xlsx", ".json", ".ndjson", ".jsonl") else ""
    )
    key = object_key(tenant_id, "uploads", suffix)
    size = storage().save(key, stream, max_bytes=current_app.config["MAX_CONTENT_LENGTH"])
    return key, size


def create_import_job(
    tenant_id: uuid.UUID,
    options: ImportOptions,
    *,
    user_id: uuid.UUID | None = None,
    file_size: int | None = None,
    status: str = "pending",
    idempotency_key: str | None = None,
) -> ImportJob:
    """Commit a new import job row (pending, or draft for the wizard)."""
    job = ImportJob(
        idempotency_key=idempotency_key,
        tenant_id=tenant_id,
        file_name=options.file_name[:255],
        file_size=file_size,
        file_url=options.file_key,
        file_type=options.file_type,
        field_mapping=dict(options.field_mapping),
        import_options=options.to_dict(),
        status=status,
        created_by=user_id,
    )
    job.workspace_id = db.session.scalar(
        select(Workspace.id).where(Workspace.tenant_id == tenant_id).order_by(Workspace.created_at)
    )
    db.session.add(job)
    db.session.commit()
    return job


def enqueue_import(job: ImportJob) -> None:
    """Queue the import (the row is committed first)."""
    from app.jobs.queue import enqueue_committed
    from app.jobs.tasks import IMPORT_OPTIONS, import_task

    job.status = "pending"
    rq_job = enqueue_committed("imports", import_task, str(job.id), **IMPORT_OPTIONS)
    job.rq_job_id = rq_job.id
    db.session.commit()


def request_cancel(job: ImportJob) -> None:
    """Cancel a pending or running import; a running one stops at the next batch boundary."""
    if job.status in ("completed", "failed", "cancelled", "rolled_back"):
        raise ImportRefused(f"This import has already ended ({job.status.replace('_', ' ')}).")
    if job.status == "draft":
        raise ImportRefused(
            "This is a dry run or an unfinished import, not a started one: there is nothing to "
            "cancel. It writes no contact, and is deleted after the retention period."
        )
    # One conditional UPDATE: a worker may have started the import since `job` was read, and
    # then it must stay `processing` (it stops at its next batch), not be marked ended.
    stopped = db.session.execute(
        update(ImportJob)
        .where(ImportJob.id == job.id, ImportJob.status == "pending")
        .values(status="cancelled", completed_at=utcnow(), cancel_requested=True)
    ).rowcount
    if not stopped:
        db.session.execute(
            update(ImportJob).where(ImportJob.id == job.id).values(cancel_requested=True)
        )
    db.session.commit()
    db.session.refresh(job)


# --- running -------------------------------------------------------------------------------


@dataclass
class Progress:
    """Counts of a running import, loaded from the job so a resumed run continues them."""

    processed: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: int = 0
    unsubscribed: int = 0
    repeated: int = 0
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


@dataclass
class ValidatedBatch:
    """One batch of rows, read and validated, ready for the database."""

    consumed: int
    rows: list[CleanRow]
    errors: list[tuple[RowError, list[str]]]


def _error_dict(error: RowError) -> dict[str, Any]:
    return {
        "row": error.row,
        "column": error.column,
        "value": error.value,
        "message": error.message,
    }


def _validated_batches(
    table: Any, validator: RowValidator, skip: int, batch_size: int
) -> Iterator[ValidatedBatch]:
    rows = table.rows()
    if skip:
        for _ in islice(rows, skip):
            pass
    while True:
        chunk = list(islice(rows, batch_size))
        if not chunk:
            return
        clean: list[CleanRow] = []
        errors: list[tuple[RowError, list[str]]] = []
        for source in chunk:
            if source.error:
                errors.append((RowError(source.line, None, "", source.error), source.values))
                continue
            result = validator.validate(source.line, source.values)
            if isinstance(result, list):
                errors.extend((e, source.values) for e in result)
            else:
                clean.append(result)
        yield ValidatedBatch(len(chunk), clean, errors)


def _prefetch(batches: Iterator[ValidatedBatch], depth: int = 2) -> Iterator[ValidatedBatch]:
    """Read and validate the next batches on a thread while the database writes this one."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        q.put(batch, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    thread = threading.Thread(target=produce, name="import-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _validated_in_child(
    path: str, table: Any, validator: RowValidator, skip: int, batch_size: int, depth: int = 4
) -> Iterator[ValidatedBatch]:
    """Read and validate in a forked process, so validation runs beside the database work.

    Reading and validating is pure CPU work on plain values; a second process gives it a core of
    its own instead of sharing the interpreter lock with the batch writer. The child touches no
    database connection and leaves with os._exit.
    """
    import multiprocessing

    context = multiprocessing.get_context("fork")
    channel = context.Queue(maxsize=depth)
    info = table.info

    def produce() -> None:
        try:
            with open_table(
                path,
                info.file_type,
                encoding=info.encoding,
                delimiter=info.delimiter,
                sheet=info.sheet,
                limits=_limits(),
            ) as child_table:
                for batch in _validated_batches(child_table, validator, skip, batch_size):
                    channel.put(("batch", batch))
            channel.put(("done", None))
        except FileFormatError as exc:
            channel.put(("format", str(exc)))
        except BaseException as exc:  # reported to the parent, which raises it
            channel.put(("crash", f"{type(exc).__name__}: {exc}"))
        finally:
            channel.close()
            channel.join_thread()
            os._exit(0)

    child = context.Process(target=produce, name="import-validator", daemon=True)
    child.start()
    try:
        while True:
            try:
                kind, payload = channel.get(timeout=5)
            except queue.Empty:
                if not child.is_alive():
                    raise RuntimeError(
                        "The process reading the file stopped unexpectedly."
                    ) from None
                continue
            if kind == "batch":
                yield payload
            elif kind == "done":
                return
            elif kind == "format":
                raise FileFormatError(payload)
            else:
                raise RuntimeError(f"Reading the file failed: {payload}")
    finally:
        if child.is_alive():
            child.terminate()
        child.join(timeout=5)
        channel.close()


def _ensure_custom_fields(tenant_id: uuid.UUID, targets: dict[str, FieldTarget]) -> dict[str, str]:
    """Types of the mapped custom fields, creating the ones the import declares."""
    existing = {
        f.key: f
        for f in db.session.scalars(select(CustomField).where(CustomField.tenant_id == tenant_id))
    }
    types: dict[str, str] = {}
    for header, target in targets.items():
        if target.kind != "custom" or not target.key:
            continue
        field_ = existing.get(target.key)
        if field_ is None:
            if not target.custom_type:
                raise OptionsError(
                    [
                        f"Column '{header}' is mapped to the custom field '{target.key}', which does not "
                        "exist: choose a type so the import can create it (e.g. zip:text)."
                    ]
                )
            field_ = CustomField(
                tenant_id=tenant_id,
                key=target.key,
                field_type=target.custom_type,
                label=header.strip()[:200] or target.key,
            )
            db.session.add(field_)
            db.session.flush()
            existing[target.key] = field_
        types[target.key] = field_.field_type
    return types


def _ensure_segment(job: ImportJob, name: str | None) -> uuid.UUID | None:
    if not name or not name.strip():
        return None
    if job.segment_id:
        return job.segment_id
    name = name.strip()[:200]
    segment = db.session.scalar(
        select(Segment).where(Segment.tenant_id == job.tenant_id, Segment.name == name)
    )
    if segment is None:
        segment = Segment(tenant_id=job.tenant_id, name=name)
        db.session.add(segment)
        db.session.flush()
        job.created_segment = True
    job.segment_id = segment.id
    return segment.id


def _settings(
    job: ImportJob,
    options: ImportOptions,
    targets: dict[str, FieldTarget],
    segment_id: uuid.UUID | None,
) -> ImportSettings:
    return ImportSettings(
        tenant_id=job.tenant_id,
        workspace_id=job.workspace_id,
        job_id=job.id,
        strategy=options.duplicate_strategy,
        blank_clears=options.blank_clears,
        field_rules=dict(options.field_rules),
        tags_mode=options.tags_mode,
        tags_mapped=any(t.kind == "tags" for t in targets.values()),
        option_tags=tuple(t for t in options.tags if t.strip()),
        segment_id=segment_id,
        new_contact_status=options.new_contact_status,
        suppression_list=options.suppression_list,
    )


def _limits() -> ReaderLimits:
    return ReaderLimits(max_rows=current_app.config["IMPORT_MAX_ROWS"])


def _fail(job: ImportJob, message: str) -> ImportJob:
    db.session.rollback()
    db.session.refresh(job)
    return _end(job, "failed", message)


def _open(job: ImportJob, options: ImportOptions, folder: str) -> Any:
    path = os.path.join(folder, "source")
    storage().download_to(options.file_key, path)
    return path, open_table(
        path,
        options.file_type,
        encoding=options.encoding,
        delimiter=options.delimiter,
        sheet=options.sheet,
        limits=_limits(),
    )


def run_import(job_id: uuid.UUID | str, batch_size: int | None = None) -> ImportJob:
    """Run (or resume) an import to its end; safe to call again after a crash."""
    job = db.session.get(ImportJob, uuid.UUID(str(job_id)))
    if job is None:
        raise ImportRefused(f"There is no import {job_id}.")
    if job.status not in ("pending", "processing"):
        log.info("import %s is %s; nothing to do", job.id, job.status)
        return job
    if job.cancel_requested:
        job.status, job.completed_at = "cancelled", utcnow()
        db.session.commit()
        return job
    with job_lock(job.id) as acquired:
        if not acquired:
            log.info("import %s is being run by another worker; leaving it to it", job.id)
            return job
        return _run_import(job, batch_size)


def _run_import(job: ImportJob, batch_size: int | None) -> ImportJob:
    db.session.refresh(job)
    if job.status not in ("pending", "processing"):
        return job
    options = ImportOptions.from_dict(job.import_options or {})
    batch_size = batch_size or current_app.config["IMPORT_BATCH_SIZE"]
    # Conditional: a Cancel click may have ended the waiting import since it was read.
    started = db.session.execute(
        update(ImportJob)
        .where(
            ImportJob.id == job.id,
            ImportJob.status.in_(("pending", "processing")),
            ImportJob.cancel_requested.is_(False),
        )
        .values(
            status="processing",
            started_at=func.coalesce(ImportJob.started_at, utcnow()),
            heartbeat_at=utcnow(),
        )
    ).rowcount
    db.session.commit()
    db.session.refresh(job)
    if not started:
        log.info("import %s was cancelled before it started", job.id)
        return _end(job, "cancelled") if job.status in ("pending", "processing") else job
    log.info("import %s: starting at row %d", job.id, job.checkpoint_row + 1)

    with tempfile.TemporaryDirectory(prefix="import-") as folder:
        try:
            path, table = _open(job, options, folder)
        except FileFormatError as exc:
            return _fail(job, str(exc))
        except StorageError as exc:
            return _fail(job, f"The uploaded file could not be read from storage: {exc}")
        with table:
            try:
                targets = options.targets()
                options.check(table.headers)
                custom_types = _ensure_custom_fields(job.tenant_id, targets)
                _ensure_segment(job, options.segment_name)
                if job.total_rows is None:
                    job.total_rows = count_data_rows(path, table.info)
                job.file_type = table.info.file_type
                job.import_options = {
                    **(job.import_options or {}),
                    "source_headers": table.headers,
                    "row_label": table.info.row_label,
                }
                db.session.commit()
            except OptionsError as exc:
                return _fail(job, str(exc))
            except FileFormatError as exc:
                return _fail(job, str(exc))
            settings = _settings(job, options, targets, job.segment_id)
            validator = RowValidator(
                table.headers,
                targets,
                custom_types,
                ValidationOptions(
                    options.validate_email, options.validate_phone, options.default_region
                ),
                table.info.row_label,
            )
            progress = Progress.of(job)
            if (job.total_rows or 0) >= current_app.config["IMPORT_PARALLEL_ROWS"]:
                batches = _validated_in_child(
                    path, table, validator, progress.processed, batch_size
                )
            else:
                batches = _prefetch(
                    _validated_batches(table, validator, progress.processed, batch_size)
                )
            try:
                for batch in batches:
                    if _commit_batch(job, settings, batch, progress):
                        log.info(
                            "import %s: cancelled after row %d", job.id, progress.processed + 1
                        )
                        return _end(job, "cancelled")
            except FileFormatError as exc:
                return _fail(
                    job,
                    f"{exc} The rows before it were imported and can be rolled back.",
                )
    if job.total_rows is None or job.total_rows != progress.processed:
        job.total_rows = progress.processed
    log.info("import %s: completed (%d rows)", job.id, progress.processed)
    return _end(job, "completed")


def _commit_batch(
    job: ImportJob, settings: ImportSettings, batch: ValidatedBatch, progress: Progress
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
            return _write_one_batch(job, settings, batch, progress)
        except (
            ConcurrentInsert,
            IntegrityError,
            psycopg.IntegrityError,  # a duplicate link from a concurrent import, seen by COPY
            *DB_ERRORS,
        ) as exc:
            _discard_transaction()
            if attempt == BATCH_RETRIES:
                raise
            log.warning("import %s: batch retried (%s: %s)", job.id, type(exc).__name__, exc)
            time.sleep(min(0.2 * 2**attempt, 5))


def _discard_transaction() -> None:
    """Roll back after a failed batch; on a lost connection there is nothing left to undo."""
    try:
        db.session.rollback()
    except DB_ERRORS as exc:
        log.warning("rollback after a failed batch failed too (%s)", exc)


def _write_one_batch(
    job: ImportJob, settings: ImportSettings, batch: ValidatedBatch, progress: Progress
) -> bool:
    if db.session.scalar(select(ImportJob.cancel_requested).where(ImportJob.id == job.id)):
        db.session.rollback()
        return True
    conn = db.session.connection()
    emails = sorted({r.email_normalized for r in batch.rows})
    existing = fetch_existing(conn, settings.tenant_id, emails)
    earlier = fetch_earlier_rows(conn, settings.job_id, existing)
    plan = plan_batch(batch.rows, existing, earlier, settings)
    written = write_batch(conn, plan, settings)
    insert_rows(
        conn,
        ImportRowError.__table__,
        [
            {
                "import_job_id": job.id,
                "row_number": e.row,
                "column": e.column,
                "value": e.value[:2000] if e.value else e.value,
                "message": e.message,
                "raw": raw,
            }
            for e, raw in batch.errors
        ],
    )
    done = Progress(
        processed=progress.processed + batch.consumed,
        created=progress.created + plan.counts["created"],
        updated=progress.updated + plan.counts["updated"],
        unchanged=progress.unchanged + plan.counts["unchanged"],
        skipped=progress.skipped + plan.counts["skipped"],
        errors=progress.errors + len({e.row for e, _ in batch.errors}),
        unsubscribed=progress.unsubscribed + plan.unsubscribed_matches,
        repeated=progress.repeated + plan.counts["repeated"],
        first_errors=progress.first_errors,
    )
    room = ERRORS_KEPT_ON_JOB - len(progress.first_errors)
    new_errors = [_error_dict(e) for e, _ in batch.errors[: max(room, 0)]]
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
    db.session.execute(update(ImportJob).where(ImportJob.id == job.id).values(**values))
    db.session.commit()
    progress.__dict__.update(done.__dict__)
    if new_errors:
        progress.first_errors = progress.first_errors + new_errors
    return False


# --- reports and notifications --------------------------------------------------------------


def write_error_report(job: ImportJob) -> str | None:
    """Write every failed row (original columns, its number and `error`) to storage; returns the key."""
    total = db.session.scalar(
        select(func.count(ImportRowError.id)).where(ImportRowError.import_job_id == job.id)
    )
    if not total:
        return None
    headers = _source_headers(job)
    with tempfile.NamedTemporaryFile(
        "w+", newline="", encoding="utf-8-sig", suffix=".csv", delete=False
    ) as f:
        writer = csv.writer(f)
        writer.writerow(error_report_header(headers, job.row_label))  # no formula runs in Excel
        stmt = (
            select(ImportRowError.row_number, ImportRowError.message, ImportRowError.raw)
            .where(ImportRowError.import_job_id == job.id)
            .order_by(ImportRowError.row_number, ImportRowError.id)
            .execution_options(yield_per=2000)
        )
        current_row, messages, raw = None, [], []
        for row_number, message, values in db.session.execute(stmt):
            if row_number != current_row and current_row is not None:
                writer.writerow([*_safe_cells(raw, len(headers)), current_row, " ".join(messages)])
                messages = []
            current_row, raw = row_number, values or []
            messages.append(message)
        if current_row is not None:
            writer.writerow([*_safe_cells(raw, len(headers)), current_row, " ".join(messages)])
        path = f.name
    try:
        key = object_key(job.tenant_id, "error-reports", ".csv")
        storage().save_file(key, path, content_type="text/csv")
    finally:
        os.unlink(path)
    return key


def _safe_cells(values: list[str], width: int) -> list[str]:
    return [*map(neutralize, values[:width]), *[""] * (width - len(values))]


def _source_headers(job: ImportJob) -> list[str]:
    headers = (job.import_options or {}).get("source_headers")
    if headers:
        return list(headers)
    width = max(
        (
            len(r)
            for r in db.session.scalars(
                select(ImportRowError.raw).where(ImportRowError.import_job_id == job.id).limit(100)
            )
            if r
        ),
        default=0,
    )
    return [f"Column {i + 1}" for i in range(width)]


def _end(job: ImportJob, status: str, message: str | None = None) -> ImportJob:
    """Stop an import for good: the error report first, then the final status, then the news.

    The report is written before the status changes, so a page that sees the import ended can
    offer the report at once.
    """
    try:
        if job.error_count:
            job.error_report_key = write_error_report(job)
    except StorageError as exc:
        log.warning("import %s: error report not written: %s", job.id, exc)
    job.status = status
    job.completed_at = utcnow()
    if message:
        job.failure_message = message
    db.session.commit()
    notify(job.tenant_id, job.created_by, "import", import_summary(job), f"/imports/{job.id}")
    return job


def import_summary(job: ImportJob) -> str:
    """One sentence about how an import ended."""
    name = job.file_name or "file"
    counts = f"{job.created_count:,} created, {job.updated_count:,} updated, "
    if job.unchanged_count:
        counts += f"{job.unchanged_count:,} unchanged, "
    if job.repeated_count:
        counts += f"{job.repeated_count:,} repeating an earlier row, "
    counts += f"{job.skipped_count:,} skipped, {job.error_count:,} errors"
    if job.status == "completed":
        return f"Import of {name} finished: {counts}."
    if job.status == "cancelled":
        return f"Import of {name} was cancelled after {job.processed_rows:,} rows: {counts}."
    return f"Import of {name} failed: {job.failure_message or 'see the import page'}"


def mark_failed(job_id: uuid.UUID | str, message: str) -> None:
    """Record that a job gave up for good (called by the queue's failure callback)."""
    job = db.session.get(ImportJob, uuid.UUID(str(job_id)))
    if job is None or job.status not in ("pending", "processing"):
        return
    _end(job, "failed", message)


# --- rollback ------------------------------------------------------------------------------


def start_rollback(job: ImportJob, force: bool = False, enqueue: bool = True) -> None:
    """Check a rollback is allowed and queue it."""
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
    if enqueue:
        from app.jobs.queue import enqueue_committed
        from app.jobs.tasks import ROLLBACK_OPTIONS, rollback_task

        enqueue_committed("imports", rollback_task, str(job.id), **ROLLBACK_OPTIONS)
    else:
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
            _discard_transaction()
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
    for tag_id in job.created_tag_ids or []:
        tid = uuid.UUID(tag_id)
        used = db.session.scalar(
            select(func.count()).select_from(contact_tags).where(contact_tags.c.tag_id == tid)
        )
        if not used:
            db.session.execute(Tag.__table__.delete().where(Tag.id == tid))


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


# --- dry run -------------------------------------------------------------------------------


def run_dry_run(
    job_id: uuid.UUID | str, batch_size: int = 2000, errors_shown: int = 100
) -> dict[str, Any]:
    """Run the pipeline over the whole file without writing, and store what would happen."""
    job = db.session.get(ImportJob, uuid.UUID(str(job_id)))
    if job is None:
        raise ImportRefused(f"There is no import {job_id}.")
    options = ImportOptions.from_dict(job.import_options or {})
    job.dry_run_status = "processing"
    job.dry_run = {"processedRows": 0}
    job.heartbeat_at = utcnow()
    db.session.commit()
    result: dict[str, Any]
    with tempfile.TemporaryDirectory(prefix="dry-run-") as folder:
        try:
            _path, table = _open(job, options, folder)
        except (FileFormatError, StorageError) as exc:
            return _dry_run_failed(job, str(exc))
        with table:
            try:
                targets = options.targets()
                options.check(table.headers)
            except OptionsError as exc:
                return _dry_run_failed(job, str(exc))
            custom_types = _declared_custom_types(job.tenant_id, targets)
            segment_id = None
            if options.segment_name:
                segment_id = db.session.scalar(
                    select(Segment.id).where(
                        Segment.tenant_id == job.tenant_id,
                        Segment.name == options.segment_name.strip(),
                    )
                )
            settings = _settings(job, options, targets, segment_id)
            validator = RowValidator(
                table.headers,
                targets,
                custom_types,
                ValidationOptions(
                    options.validate_email, options.validate_phone, options.default_region
                ),
                table.info.row_label,
            )
            counts: Counter[str] = Counter()
            field_changes: Counter[str] = Counter()
            typos: dict[str, dict[str, Any]] = {}
            domain_cache: dict[str, str | None] = {}
            seen: dict[str, int] = {}
            errors: list[dict[str, Any]] = []
            error_rows = 0
            unsubscribed = 0
            status_changes: Counter[tuple[str, str]] = Counter()
            repeats: list[dict[str, int]] = []
            segment_new = segment_already = 0
            processed = 0
            try:
                for batch in _validated_batches(table, validator, 0, batch_size):
                    processed += batch.consumed
                    error_rows += len({e.row for e, _ in batch.errors})
                    for e, _raw in batch.errors:
                        if len(errors) < errors_shown:
                            errors.append(_error_dict(e))
                    conn = db.session.connection()
                    existing = fetch_existing(
                        conn,
                        job.tenant_id,
                        sorted({r.email_normalized for r in batch.rows}),
                        lock=False,
                    )
                    plan = plan_batch(batch.rows, existing, {}, settings, seen_in_run=seen)
                    for r in batch.rows:
                        seen.setdefault(r.email_normalized, r.row)
                        domain = r.email_normalized.rpartition("@")[2]
                        if domain not in domain_cache:
                            domain_cache[domain] = email_domain_typo(domain)
                        suggestion = domain_cache[domain]
                        if suggestion:
                            entry = typos.setdefault(
                                domain,
                                {
                                    "domain": domain,
                                    "suggestion": suggestion,
                                    "count": 0,
                                    "rows": [],
                                },
                            )
                            entry["count"] += 1
                            if len(entry["rows"]) < 5:
                                entry["rows"].append(r.row)
                    counts.update(plan.counts)
                    status_changes.update(plan.status_changes)
                    for row, first in plan.repeats[: REPEATS_KEPT - len(repeats)]:
                        repeats.append({"row": row, "firstRow": first})
                    unsubscribed += plan.unsubscribed_matches
                    for change in plan.changes:
                        if change.kind == "updated" and not change.repeat_only:
                            field_changes.update(change.changed)
                    members = [c for c in plan.changes if c.membership]
                    if segment_id is not None:
                        existing_members = set(
                            db.session.scalars(
                                select(segment_contacts.c.contact_id).where(
                                    segment_contacts.c.segment_id == segment_id,
                                    segment_contacts.c.contact_id.in_(
                                        [c.contact_id for c in members if not c.is_new]
                                    ),
                                )
                            )
                        )
                        segment_already += len(existing_members)
                        segment_new += len(members) - len(existing_members)
                    elif options.segment_name:
                        segment_new += len(members)
                    job.dry_run = {"processedRows": processed}
                    job.heartbeat_at = utcnow()
                    db.session.commit()
            except FileFormatError as exc:
                return _dry_run_failed(job, str(exc))
    result = {
        "processedRows": processed,
        "wouldCreate": counts["created"],
        "wouldUpdate": counts["updated"],
        "wouldLeaveUnchanged": counts["unchanged"],
        "wouldSkip": counts["skipped"],
        "wouldRepeat": counts["repeated"],
        "repeats": repeats,
        "errorRows": error_rows,
        "errors": errors,
        "fieldChanges": dict(field_changes.most_common()),
        "segment": {
            "name": options.segment_name,
            "wouldJoin": segment_new,
            "alreadyIn": segment_already,
        }
        if options.segment_name
        else None,
        "unsubscribedMatches": unsubscribed,
        "statusChanges": [
            {"from": old, "to": new, "count": n}
            for (old, new), n in sorted(status_changes.items(), key=lambda i: (-i[1], i[0]))
        ],
        "domainTypos": sorted(typos.values(), key=lambda t: -t["count"]),
    }
    job.dry_run = result
    job.dry_run_status = "completed"
    if job.total_rows is None:
        job.total_rows = processed
    db.session.commit()
    return result


def mark_dry_run_failed(job_id: uuid.UUID | str, message: str) -> None:
    """Record why a dry run's job failed (RQ's failure callback), unless it has ended since."""
    db.session.rollback()
    job = db.session.get(ImportJob, uuid.UUID(str(job_id)))
    if job is not None and job.dry_run_status in ("pending", "processing"):
        _dry_run_failed(job, message)


def _dry_run_failed(job: ImportJob, message: str) -> dict[str, Any]:
    db.session.rollback()
    job.dry_run_status = "failed"
    job.dry_run = {"error": message}
    db.session.commit()
    return job.dry_run


def _declared_custom_types(tenant_id: uuid.UUID, targets: dict[str, FieldTarget]) -> dict[str, str]:
    existing = dict(
        db.session.execute(
            select(CustomField.key, CustomField.field_type).where(
                CustomField.tenant_id == tenant_id
            )
        ).all()
    )
    return {
        t.key: existing.get(t.key) or t.custom_type or "text"
        for t in targets.values()
        if t.kind == "custom" and t.key
    }


def error_report_stream(job: ImportJob) -> io.BufferedIOBase:
    """Open the stored error report."""
    if not job.error_report_key:
        raise ImportRefused("This import has no error report.")
    return storage().open(job.error_report_key)


def remembered_mapping(tenant_id: uuid.UUID) -> dict[str, str]:
    """The tenant's last mappings by normalized header (newest import wins)."""
    from app.imports.mapping import normalize_header

    remembered: dict[str, str] = {}
    jobs = db.session.scalars(
        select(ImportJob.field_mapping)
        .where(
            ImportJob.tenant_id == tenant_id,
            ImportJob.status != "draft",
            ImportJob.field_mapping.is_not(None),
        )
        .order_by(ImportJob.created_at.desc())
        .limit(20)
    )
    for mapping in jobs:
        for header, spec in (mapping or {}).items():
            remembered.setdefault(normalize_header(header), spec)
    return remembered


def recover_stalled_jobs(stale_after: int | None = None) -> dict[str, int]:
    """Queue again the imports, rollbacks and dry runs a dead worker left behind, and the ones
    Redis lost (or that could not be queued while it was down).

    A job whose heartbeat is older than `stale_after` seconds (JOB_STALE_SECONDS, 120 by
    default: longer than any batch takes), or whose queued RQ job no longer
    exists, is enqueued again; it resumes from its checkpoint, and the advisory lock makes a
    second copy of a job that is in fact still running exit at once.
    """
    from datetime import timedelta

    from rq.job import Job

    from app.jobs.queue import enqueue_committed, redis_connection
    from app.jobs.tasks import (
        DRY_RUN_OPTIONS,
        IMPORT_OPTIONS,
        ROLLBACK_OPTIONS,
        dry_run_task,
        import_task,
        rollback_task,
    )

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
            select(ImportJob).where(state.in_(("pending", "processing")), *where)
        ):
            status = getattr(job, state.key)
            stale = status == "processing" and (job.heartbeat_at or job.created_at) < cutoff
            if stale or (status == "pending" and lost(job)):
                job.rq_job_id = enqueue_committed("imports", task, str(job.id), **options).id
                db.session.commit()
                requeued[kind] += 1
                log.warning("%s: %s re-queued (stale=%s)", kind, job.id, stale)

    requeue("imports", ImportJob.status, import_task, IMPORT_OPTIONS)
    for job in db.session.scalars(
        select(ImportJob).where(ImportJob.rollback_status.in_(("pending", "processing")))
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
        ImportJob.status == "draft",
    )
    return requeued
