"""The error report of an import: every refused row with its original cells and why."""

from __future__ import annotations

import codecs
import csv
import io
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from itertools import groupby
from operator import itemgetter
from typing import BinaryIO

from sqlalchemy import func, select

from app.cell_text import neutralize
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
        refused = (
            (row, message, values or []) for row, message, values in db.session.execute(stmt)
        )
        writer.writerows(report_lines(refused, len(headers)))
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
        refused = ((error.row, error.message, values) for error, values in batch.errors)
        self.writer.writerows(report_lines(refused, self.width))
        return True

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


def report_lines(
    refused: Iterable[tuple[int, str, list[str]]], width: int
) -> Iterator[list[str | int]]:
    """The report's lines from (row, message, original cells), a row's messages together: its
    cells made inert for a spreadsheet, its number, and its messages joined."""
    for row, same_row in groupby(refused, key=itemgetter(0)):
        found = list(same_row)
        values = found[0][2]
        cells = [*map(neutralize, values[:width]), *[""] * (width - len(values))]
        yield [*cells, row, " ".join(message for _row, message, _values in found)]


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
