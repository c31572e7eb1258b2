"""The error report of an import: every refused row with its original cells and why."""

from __future__ import annotations

import csv
import io
import logging
import os
import tempfile

from sqlalchemy import func, select

from app.exports.writers import neutralize
from app.extensions import db
from app.imports.preview import error_report_header
from app.imports.service import ImportRefused, storage
from app.models import (
    ImportJob,
    ImportRowError,
)
from app.storage import object_key

log = logging.getLogger(__name__)


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


def error_report_stream(job: ImportJob) -> io.BufferedIOBase:
    """Open the stored error report."""
    if not job.error_report_key:
        raise ImportRefused("This import has no error report.")
    return storage().open(job.error_report_key)
