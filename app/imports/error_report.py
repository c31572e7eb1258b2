"""The error report of an import: every refused row with its original cells and why."""

from __future__ import annotations

import codecs
import csv
import io
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from typing import BinaryIO

from sqlalchemy import func, select

from app.exports.writers import neutralize
from app.extensions import db
from app.imports.corrections import load_corrections
from app.imports.pipeline import ValidatedBatch, opened_source
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


class _RefusedRows:
    """The refused-rows report's use of the pipeline: each refused row as a CSV line (its
    original cells, made inert for a spreadsheet, its number and every message)."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer)

    def take(self, batch: ValidatedBatch) -> bool:
        current, messages, raw = None, [], []
        for error, values in batch.errors:  # a row's messages come together
            if error.row != current and current is not None:
                self._write(raw, current, messages)
                messages = []
            current, raw = error.row, values
            messages.append(error.message)
        if current is not None:
            self._write(raw, current, messages)
        return True

    def _write(self, values: list[str], row: int, messages: list[str]) -> None:
        self.writer.writerow([*_safe_cells(values, self.width), row, " ".join(messages)])

    def drain(self) -> bytes:
        """The lines written since the last call, as UTF-8."""
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text.encode()


def refused_rows_csv(job: ImportJob, batch_size: int = 500) -> Iterator[bytes]:
    """Every row an import of the draft would refuse, as CSV (with a BOM, for Excel): its
    original cells as corrected in the browser, its number and `error`; skipped rows left out.

    The file is opened before the first byte is produced: `StorageError`, `FileFormatError`,
    `OptionsError` and `MappingError` come from the call, not from the iteration.
    """
    stack = ExitStack()
    try:
        source = stack.enter_context(opened_source(job, fixes=load_corrections(job.id)))
    except BaseException:
        stack.close()
        raise
    sink = _RefusedRows(len(source.headers))
    sink.writer.writerow(error_report_header(source.headers, source.table.info.row_label))

    def lines() -> Iterator[bytes]:
        with stack:
            yield codecs.BOM_UTF8 + sink.drain()
            for batch in source.batches(batch_size=batch_size):
                sink.take(batch)
                yield sink.drain()

    return lines()


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


def error_report_stream(job: ImportJob) -> BinaryIO:
    """Open the stored error report."""
    if not job.error_report_key:
        raise ImportRefused("This import has no error report.")
    return storage().open(job.error_report_key)
