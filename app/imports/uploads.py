"""Receiving a file to import: check it can be read, store it, and say what it holds.

The wizard's upload step and file settings and the API's uploads and imports read a file here,
so the file type, encoding, delimiter and worksheet are found the same way for all of them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import BinaryIO

from flask import current_app

from app.imports.column_values import SUGGESTION_SAMPLE_ROWS
from app.imports.options import ImportOptions
from app.imports.parsing import (
    FileFormatError,
    ReaderLimits,
    SourceInfo,
    SourceRow,
    detect_file_type,
    estimate_data_rows,
    open_table,
)
from app.imports.service import storage, store_upload
from app.storage import StorageError, clean_file_name

SAMPLE_ROWS = 10
COPY_CHUNK = 1024 * 1024


class UploadRefused(Exception):
    """The uploaded file cannot be imported; the message says why and what to do."""


@dataclass(frozen=True)
class FileFacts:
    """What reading the top of a file found: its settings, first rows and an estimate of rows."""

    info: SourceInfo
    sample: list[SourceRow]
    row_estimate: int


@dataclass(frozen=True)
class StoredUpload:
    """An uploaded file that was checked and stored: its name, key, size and what was found."""

    file_name: str
    key: str
    size: int
    facts: FileFacts


def display_file_name(raw: str | None) -> str:
    """The file's own name without any folder a browser sent along, fit to store and show."""
    return clean_file_name(raw)


def analyze_file(
    path: str,
    file_name: str,
    *,
    file_type: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
) -> FileFacts:
    """Detect or apply the file's settings and read its header, first rows and size."""
    limits = ReaderLimits(max_rows=current_app.config["IMPORT_MAX_ROWS"])
    try:
        file_type = file_type or detect_file_type(path, file_name)
        info, sample = _read_top(path, file_type, encoding, delimiter, sheet, limits)
        if not sample and file_type == "xlsx" and sheet is None:
            # A "Read me" sheet in front of the data: take the first sheet that has contacts.
            for other in info.sheets:
                if other != info.sheet:
                    found = _read_top(path, file_type, None, None, other, limits)
                    if found[1]:
                        info, sample = found
                        break
        estimate = estimate_data_rows(path, info)
    except FileFormatError as exc:
        raise UploadRefused(str(exc)) from None
    except (UnicodeError, ValueError, LookupError) as exc:
        raise UploadRefused(
            "The file could not be read with these settings: check the file type and encoding, "
            f"or save the file again as UTF-8 CSV ({exc.__class__.__name__})."
        ) from None
    if not sample:
        raise UploadRefused(
            "The file has column names but no rows below them: add the contacts and upload it again."
        )
    if estimate > limits.max_rows:
        raise UploadRefused(
            f"The file has about {estimate:,} rows; one import takes at most {limits.max_rows:,}: "
            "split it into smaller files and upload them one by one."
        )
    return FileFacts(info, sample, estimate)


def _read_top(
    path: str,
    file_type: str,
    encoding: str | None,
    delimiter: str | None,
    sheet: str | None,
    limits: ReaderLimits,
) -> tuple[SourceInfo, list[SourceRow]]:
    """Open the file with these settings and read its header and first rows."""
    with open_table(
        path,
        file_type,
        encoding=encoding if file_type != "xlsx" else None,
        delimiter=delimiter if file_type == "csv" else None,
        sheet=sheet if file_type == "xlsx" else None,
        limits=limits,
    ) as table:
        # the first SAMPLE_ROWS are shown; the mapping suggestions read them all
        return table.info, list(islice(table.rows(), max(SAMPLE_ROWS, SUGGESTION_SAMPLE_ROWS)))


def apply_facts(options: ImportOptions, facts: FileFacts) -> None:
    """Read the file with the type, encoding, delimiter and worksheet that were found."""
    options.file_type = facts.info.file_type
    options.encoding = facts.info.encoding
    options.delimiter = facts.info.delimiter
    options.sheet = facts.info.sheet


def _spool(stream: BinaryIO, path: str) -> int:
    """Copy an upload stream to a local file in chunks; returns its size."""
    size = 0
    with open(path, "wb") as out:
        while chunk := stream.read(COPY_CHUNK):
            out.write(chunk)
            size += len(chunk)
    return size


@contextmanager
def stored_copy(key: str) -> Iterator[str]:
    """A stored upload as a local path, removed afterwards; UploadRefused when it is unreadable."""
    folder = tempfile.mkdtemp(prefix="wizard-")
    try:
        path = os.path.join(folder, "source")
        try:
            storage().download_to(key, path)
        except StorageError as exc:
            raise UploadRefused(
                f"The uploaded file could not be read from storage: {exc} Upload it again."
            ) from None
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def receive_upload(
    tenant_id: uuid.UUID, upload_stream: BinaryIO, raw_name: str | None, sheet: str | None = None
) -> StoredUpload:
    """Check an uploaded file can be imported, then store it under the tenant's uploads."""
    file_name = display_file_name(raw_name)
    folder = tempfile.mkdtemp(prefix="upload-")
    try:
        path = os.path.join(folder, "upload")
        if _spool(upload_stream, path) == 0:
            raise UploadRefused(
                "The file is empty (0 bytes): check you picked the right file and upload it again."
            )
        facts = analyze_file(path, file_name, sheet=sheet)
        with open(path, "rb") as stream:
            key, size = store_upload(tenant_id, stream, file_name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return StoredUpload(file_name, key, size, facts)
