"""The export service: create, run, download and expire exports.

The web pages and the command line call these functions; the RQ task is a thin wrapper around
`run_export`. A run streams the contacts from the database in batches into a temporary file
and uploads the finished file; only then does the row point at it, so a run killed half-way
leaves nothing downloadable and simply starts again.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
import unicodedata
import uuid
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, select, update

from app.exports.fields import ExportField, available_fields, field_sql, resolve_fields
from app.exports.query import (
    ExportFilters,
    ExportQueryError,
    contacts_select,
    count_select,
    segment_of,
)
from app.exports.streaming import collector_paused, copy_csv_lines, stream_rows
from app.exports.writers import (
    CONTENT_TYPES,
    SUFFIXES,
    CsvWriter,
    ExportWriter,
    csv_cell_sql,
    make_writer,
)
from app.extensions import db
from app.jobs.locks import job_lock
from app.models import CustomField, ExportJob, NotifiedObject
from app.models.exports import EXPORT_FORMATS, EXPORT_TYPES
from app.models.jobs import ExportStatus
from app.models.types import utcnow
from app.notifications import notify
from app.storage import Storage, StorageError, key_belongs_to, object_key
from app.tenancy import owned

log = logging.getLogger(__name__)

BATCH_SIZE = 5000
"""Contacts fetched from the database and written to the file at a time."""
PROGRESS_SECONDS = 1.0
"""The job row's `processed_contacts` is updated at most this often."""
LINK_SECONDS = 300
"""How long a download link stays valid."""
LEFTOVER_HOURS = 24
"""Uploads of runs that never finished are deleted by the clean-up after this long."""


class ExportRefused(Exception):
    """The request cannot be done; the message says why in one sentence."""


class ExportNotReady(ExportRefused):
    """The file is not there yet (pending, processing) or never will be (failed)."""


class ExportExpired(ExportRefused):
    """The file's time is up and it has been (or is about to be) deleted."""


def storage() -> Storage:
    """The app's storage."""
    found: Storage = current_app.extensions["storage"]
    return found


@dataclass(frozen=True)
class ExportRequest:
    """What a user asked to export: scope, filters, fields in order, format."""

    export_type: str
    filters: ExportFilters
    fields: list[str]
    file_format: str
    csv_for_excel: bool = False


# --- creating ------------------------------------------------------------------------------


def tenant_fields(tenant_id: uuid.UUID) -> list[ExportField]:
    """Every field the tenant can export (standard, its custom fields, lists, engagement)."""
    rows = db.session.execute(
        owned(
            CustomField, tenant_id, CustomField.key, CustomField.label, CustomField.field_type
        ).order_by(CustomField.label, CustomField.key)
    ).all()
    return available_fields([tuple(r) for r in rows])


def _slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "segment"


def download_name(
    export_type: str, file_format: str, segment_name: str | None, when: datetime
) -> str:
    """The file name a user downloads, e.g. `contacts-segment-warm-leads-2026-05-01.csv`."""
    scope = {"full": "all", "filtered": "filtered"}.get(export_type) or (
        f"segment-{_slug(segment_name or '')}"
    )
    return f"contacts-{scope}-{when:%Y-%m-%d}{SUFFIXES[file_format]}"


def check_request(tenant_id: uuid.UUID, request: ExportRequest) -> list[str]:
    """Every problem with a request, as sentences (empty when it can run)."""
    problems = []
    if request.export_type not in EXPORT_TYPES:
        problems.append("Choose what to export: all contacts, a filtered set or a segment.")
    if request.file_format not in EXPORT_FORMATS:
        problems.append("Choose a format: CSV, Excel (XLSX), JSON or NDJSON.")
    if not resolve_fields(request.fields, tenant_fields(tenant_id)):
        problems.append("Choose at least one field to export.")
    if request.export_type == "segment":
        try:
            segment_of(tenant_id, request.filters)
        except ExportQueryError:
            problems.append("Choose the segment to export.")
    return problems


def create_export(
    tenant_id: uuid.UUID,
    request: ExportRequest,
    *,
    user_id: uuid.UUID | None = None,
    idempotency_key: str | None = None,
) -> ExportJob:
    """Commit a pending export job; ExportRefused when the request cannot run. The caller
    queues it (`app.jobs.submit.submit_export` does both)."""
    problems = check_request(tenant_id, request)
    if problems:
        raise ExportRefused(" ".join(problems))
    filters = request.filters if request.export_type != "full" else ExportFilters()
    if request.export_type != "segment":
        filters = filters.without_scope()
    segment_name = None
    if request.export_type == "segment":
        segment_name = segment_of(tenant_id, filters).name
    now = utcnow()
    known = {f.key for f in tenant_fields(tenant_id)}
    job = ExportJob(
        tenant_id=tenant_id,
        export_type=request.export_type,
        filters=filters.to_dict(),
        selected_fields=[k for k in dict.fromkeys(request.fields) if k in known],
        file_format=request.file_format,
        export_options={"csv_for_excel": bool(request.csv_for_excel)}
        if request.file_format == "csv"
        else {},
        file_name=download_name(request.export_type, request.file_format, segment_name, now),
        status=ExportStatus.PENDING,
        processed_contacts=0,
        created_by=user_id,
        created_at=now,
        idempotency_key=idempotency_key,
    )
    db.session.add(job)
    db.session.commit()
    return job


def count_matching(tenant_id: uuid.UUID, export_type: str, filters: ExportFilters) -> int:
    """How many contacts an export with this scope and these filters would hold."""
    return int(db.session.scalar(count_select(tenant_id, export_type, filters)) or 0)


# --- running -------------------------------------------------------------------------------


def _fail(job: ExportJob, message: str) -> ExportJob:
    db.session.rollback()
    db.session.refresh(job)
    job.status = ExportStatus.FAILED
    job.failure_message = message
    job.completed_at = utcnow()
    db.session.commit()
    _notify(job)
    return job


def _set_progress(job_id: uuid.UUID, **values: Any) -> None:
    db.session.execute(update(ExportJob).where(ExportJob.id == job_id).values(**values))
    db.session.commit()


def csv_in_database(job: ExportJob) -> bool:
    """True when PostgreSQL writes the CSV lines itself (COPY ... FORMAT csv), by our rules."""
    return db.engine.dialect.name == "postgresql" and job.file_format == "csv"


def _plan(job: ExportJob) -> tuple[list[ExportField], Select[Any], Select[Any]]:
    """The fields, the data SELECT and the count SELECT of a job (in the tenant's scope)."""
    fields = resolve_fields(job.selected_fields or [], tenant_fields(job.tenant_id))
    if not fields:
        raise ExportQueryError("None of the fields chosen for this export exist any more.")
    dialect = db.engine.dialect.name
    filters = ExportFilters.from_dict(job.filters)
    export_type = job.export_type or "full"
    columns = [field_sql(f, dialect).label(f"c{i}") for i, f in enumerate(fields)]
    data = contacts_select(job.tenant_id, export_type, filters, columns)
    if csv_in_database(job):
        # OFFSET 0 keeps PostgreSQL from merging the subquery, so each value is computed once.
        rows = data.offset(0).subquery()
        data = select(*[csv_cell_sql(rows.c[i], f) for i, f in enumerate(fields)])
    return fields, data, count_select(job.tenant_id, export_type, filters)


def run_export(job_id: uuid.UUID | str, batch_size: int | None = None) -> ExportJob:
    """Run (or run again, from the start) an export to its end.

    The job's advisory lock is held for the whole run: a second copy of the job leaves it
    alone, and `recover_stalled_exports` knows a running export whose lock is free is orphaned.
    """
    job = db.session.get(ExportJob, uuid.UUID(str(job_id)))
    if job is None:
        raise ExportRefused(f"There is no export {job_id}.")
    with job_lock(job.id) as acquired:
        if not acquired:
            log.info("export %s is being run by another worker; leaving it to it", job.id)
            return job
        db.session.refresh(job)
        return _run_export(job, batch_size)


def _run_export(job: ExportJob, batch_size: int | None) -> ExportJob:
    if job.status not in (ExportStatus.PENDING, ExportStatus.PROCESSING):
        log.info("export %s is %s; nothing to do", job.id, job.status)
        return job
    if job.upload_key:  # an earlier run died while or after uploading: remove what it left
        storage().delete(job.upload_key)
    job.status = ExportStatus.PROCESSING
    job.started_at = job.started_at or utcnow()
    job.processed_contacts = 0
    job.upload_key = None
    job.failure_message = None
    db.session.commit()
    try:
        fields, data, count = _plan(job)
    except ExportQueryError as exc:
        return _fail(job, str(exc))

    suffix = SUFFIXES[job.file_format or "csv"]
    bom = bool((job.export_options or {}).get("csv_for_excel"))
    with tempfile.TemporaryDirectory(prefix="export-") as folder:
        path = os.path.join(folder, f"export{suffix}")
        processed = _write_file(job, fields, data, count, path, bom, batch_size or BATCH_SIZE)
        key = object_key(job.tenant_id, "exports", suffix)
        _set_progress(job.id, upload_key=key, processed_contacts=processed)
        try:
            size = storage().save_file(
                key, path, content_type=CONTENT_TYPES[job.file_format or "csv"]
            )
        except StorageError as exc:
            return _fail(job, f"The finished file could not be stored: {exc}")
    now = utcnow()
    db.session.refresh(job)
    job.file_url = key
    job.upload_key = None
    job.file_size = size
    job.processed_contacts = processed
    job.total_contacts = processed
    job.status = ExportStatus.COMPLETED
    job.completed_at = now
    job.expires_at = now + timedelta(days=current_app.config["EXPORT_RETENTION_DAYS"])
    db.session.commit()
    log.info("export %s: %d contacts, %d bytes", job.id, processed, size)
    _notify(job)
    return job


def _write_file(
    job: ExportJob,
    fields: Sequence[ExportField],
    data: Select[Any],
    count: Select[Any],
    path: str,
    bom: bool,
    batch_size: int,
) -> int:
    """Count, then stream the contacts into the file at `path`; returns how many were written.

    On PostgreSQL the count and the rows come from one REPEATABLE READ snapshot, so the total
    shown first is exactly what the file holds.
    """
    postgres = db.engine.dialect.name == "postgresql"
    options = {"isolation_level": "REPEATABLE READ"} if postgres else {}
    processed = 0
    with db.engine.connect().execution_options(**options) as conn:
        total = int(conn.scalar(count) or 0)
        _set_progress(job.id, total_contacts=total)
        with open(path, "wb") as out, collector_paused():
            writer = make_writer(job.file_format or "csv", out, fields, bom=bom)
            batches: Generator[list[Any], None, None] = (
                copy_csv_lines(conn, data, batch_size)
                if csv_in_database(job)
                else stream_rows(conn, data, batch_size)
            )
            reported = time.monotonic()
            try:
                for batch in batches:
                    _write_batch(writer, batch)
                    processed += len(batch)
                    if time.monotonic() - reported >= PROGRESS_SECONDS:
                        _set_progress(job.id, processed_contacts=processed)
                        reported = time.monotonic()
            except BaseException:
                writer.discard()
                batches.close()  # ends a running COPY before the connection is given back
                raise
            writer.close()
        conn.rollback()
    return processed


def _write_batch(writer: ExportWriter, batch: list[Any]) -> None:
    if batch and isinstance(batch[0], bytes):
        assert isinstance(writer, CsvWriter)  # nosec B101 # narrows the type; bytes come only from CSV
        writer.write_formatted(batch)
    else:
        writer.write_rows(batch)


def mark_failed(job_id: uuid.UUID | str, message: str) -> None:
    """Record that a job gave up for good (called by the queue's failure callback)."""
    job = db.session.get(ExportJob, uuid.UUID(str(job_id)))
    if job is None or job.status not in (ExportStatus.PENDING, ExportStatus.PROCESSING):
        return
    if job.upload_key:
        try:
            storage().delete(job.upload_key)
            job.upload_key = None
        except StorageError as exc:
            log.warning("export %s: leftover upload not deleted: %s", job.id, exc)
    job.status = ExportStatus.FAILED
    job.failure_message = message
    job.completed_at = utcnow()
    db.session.commit()
    _notify(job)


def stalled_exports() -> list[tuple[ExportJob, str]]:
    """The exports a dead worker left running, and the pending ones Redis lost, each with why:
    `app.jobs.recovery.recover_stalled_exports` queues them again.

    A running export whose advisory lock is free has no worker any more (PostgreSQL freed the
    lock when the worker's connection died): it starts again from the beginning, and the file
    its dead run may have been uploading is deleted first. On SQLite, where there is no such
    lock, only exports whose queue entry is gone are queued again.
    """
    from rq.job import Job

    from app.jobs.queue import redis_connection

    connection = redis_connection()
    postgres = db.engine.dialect.name == "postgresql"
    stalled: list[tuple[ExportJob, str]] = []
    for job in db.session.scalars(
        select(ExportJob).where(
            ExportJob.status.in_((ExportStatus.PENDING, ExportStatus.PROCESSING))
        )
    ).all():
        if job.status == ExportStatus.PROCESSING and postgres:
            with job_lock(job.id) as free:
                db.session.refresh(job)
                orphaned = free and job.status == ExportStatus.PROCESSING
            reason = "its worker died" if orphaned else None
        else:
            lost = not job.rq_job_id or not Job.exists(job.rq_job_id, connection=connection)
            reason = "its queue entry was lost" if lost else None
        if reason:  # queued once the lock is released, or the new run would find it taken
            stalled.append((job, reason))
    return stalled


# --- telling and downloading ---------------------------------------------------------------


def export_summary(job: ExportJob) -> str:
    """One sentence about how an export ended."""
    name = job.file_name or "contacts"
    if job.status == ExportStatus.COMPLETED:
        count = job.processed_contacts or 0
        return f"Export {name} is ready: {count:,} contact{'s' if count != 1 else ''}."
    return f"Export {name} failed: {job.failure_message or 'see the export page'}"


def _notify(job: ExportJob) -> None:
    notify(
        job.tenant_id,
        job.created_by,
        "export",
        export_summary(job),
        (NotifiedObject.EXPORT, job.id),
    )


def download_link(job: ExportJob, now: datetime | None = None) -> str:
    """A signed link to the file, valid for five minutes; ExportNotReady or ExportExpired."""
    if job.is_expired(now):
        raise ExportExpired(
            "This export has expired: its file was deleted "
            f"{current_app.config['EXPORT_RETENTION_DAYS']} days after it was made. "
            "Create a new export to get the contacts again."
        )
    if job.status == ExportStatus.FAILED:
        raise ExportNotReady(
            f"This export failed, so there is no file to download: {job.failure_message or ''}".strip()
        )
    if job.status != ExportStatus.COMPLETED or not job.file_url:
        raise ExportNotReady(
            "This export is not ready yet: the file is still being made. "
            "Try again when it has finished."
        )
    if not key_belongs_to(job.file_url, job.tenant_id):
        raise ExportExpired("This export's file cannot be found. Create a new export.")
    return storage().signed_url(job.file_url, expires_in=LINK_SECONDS, download_name=job.file_name)


# --- clean-up ------------------------------------------------------------------------------


def expire_exports(store: Storage, now: datetime | None = None) -> int:
    """Delete the files of exports past their expiry and mark the rows `expired` (kept for history).

    Uploads left by runs that failed, or died more than a day ago, are deleted too.
    """
    now = now or utcnow()
    jobs = db.session.scalars(
        select(ExportJob).where(
            ExportJob.status == ExportStatus.COMPLETED, ExportJob.expires_at <= now
        )
    ).all()
    for job in jobs:
        if job.file_url:
            store.delete(job.file_url)
        job.status = ExportStatus.EXPIRED
        job.file_url = None
        db.session.commit()
    leftovers = db.session.scalars(
        select(ExportJob).where(
            ExportJob.upload_key.is_not(None),
            (ExportJob.status == ExportStatus.FAILED)
            | (ExportJob.started_at <= now - timedelta(hours=LEFTOVER_HOURS)),
        )
    ).all()
    for job in leftovers:
        store.delete(job.upload_key or "")
        job.upload_key = None
        db.session.commit()
    return len(jobs)
