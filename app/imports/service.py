"""The import service: store an upload, create an import, cancel one; what the jobs share.

The import domain's jobs live in modules named after them: `importing` (run an import),
`dry_run`, `rollback_job`, `error_report`, reading the file in `pipeline`. The web wizard, the API
and the command line call them; `app.jobs.submit` queues them and RQ's task functions are thin
wrappers around `run_import`, `run_dry_run` and `run_rollback`.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import BinaryIO

import psycopg
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, OperationalError

from app.extensions import db
from app.imports.options import ImportOptions
from app.models import (
    ImportJob,
    Workspace,
)
from app.models.jobs import ImportStatus
from app.models.types import utcnow
from app.storage import Storage, object_key

log = logging.getLogger(__name__)

BATCH_RETRIES = 5
DB_ERRORS = (OperationalError, DBAPIError, psycopg.OperationalError)
"""A lost or refused database connection, seen by SQLAlchemy or by a raw COPY cursor."""


class ImportRefused(Exception):
    """The request cannot be done now; the message says why in one sentence."""


def existing_import(job_id: uuid.UUID | str) -> ImportJob:
    """The import `job_id` names, for a job or command to run; ImportRefused if there is none."""
    job = db.session.get(ImportJob, uuid.UUID(str(job_id)))
    if job is None:
        raise ImportRefused(f"There is no import {job_id}.")
    return job


def storage() -> Storage:
    """The app's storage."""
    found: Storage = current_app.extensions["storage"]
    return found


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
    status: str = ImportStatus.PENDING,
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


def request_cancel(job: ImportJob) -> None:
    """Cancel a pending or running import; a running one stops at the next batch boundary."""
    if job.status in (
        ImportStatus.COMPLETED,
        ImportStatus.FAILED,
        ImportStatus.CANCELLED,
        ImportStatus.ROLLED_BACK,
    ):
        raise ImportRefused(f"This import has already ended ({job.status.replace('_', ' ')}).")
    if job.status == ImportStatus.DRAFT:
        raise ImportRefused(
            "This is a dry run or an unfinished import, not a started one: there is nothing to "
            "cancel. It writes no contact, and is deleted after the retention period."
        )
    # One conditional UPDATE: a worker may have started the import since `job` was read, and
    # then it must stay `processing` (it stops at its next batch), not be marked ended.
    stopped = db.session.execute(  # type: ignore[attr-defined] # an UPDATE: a CursorResult
        update(ImportJob)
        .where(ImportJob.id == job.id, ImportJob.status == ImportStatus.PENDING)
        .values(status=ImportStatus.CANCELLED, completed_at=utcnow(), cancel_requested=True)
    ).rowcount
    if not stopped:
        db.session.execute(
            update(ImportJob).where(ImportJob.id == job.id).values(cancel_requested=True)
        )
    db.session.commit()
    db.session.refresh(job)


# --- running -------------------------------------------------------------------------------


def discard_transaction() -> None:
    """Roll back after a failed batch; on a lost connection there is nothing left to undo."""
    try:
        db.session.rollback()
    except DB_ERRORS as exc:
        log.warning("rollback after a failed batch failed too (%s)", exc)


def remembered_mapping(tenant_id: uuid.UUID) -> dict[str, str]:
    """The tenant's last mappings by normalized header (newest import wins)."""
    from app.imports.header_spellings import normalize_header

    remembered: dict[str, str] = {}
    jobs = db.session.scalars(
        select(ImportJob.field_mapping)
        .where(
            ImportJob.tenant_id == tenant_id,
            ImportJob.status != ImportStatus.DRAFT,
            ImportJob.field_mapping.is_not(None),
        )
        .order_by(ImportJob.created_at.desc())
        .limit(20)
    )
    for mapping in jobs:
        for header, spec in (mapping or {}).items():
            remembered.setdefault(normalize_header(header), spec)
    return remembered


def file_in_use(
    key: str, besides: uuid.UUID | None = None, statuses: tuple[str, ...] | None = None
) -> bool:
    """True when an import (other than `besides`; in one of `statuses`, if given) reads this file.

    A follow-up import reads the file of the import it follows up: the file goes only with the
    last import that needs it."""
    query = select(ImportJob.id).where(ImportJob.file_url == key)
    if besides is not None:
        query = query.where(ImportJob.id != besides)
    if statuses is not None:
        query = query.where(ImportJob.status.in_(statuses))
    return db.session.scalar(query.limit(1)) is not None
