"""Read contact files (CSV/TSV, XLSX, JSON/NDJSON) as streams of text rows; no Flask, no database.

`open_table` returns a `Table` whose `rows()` yields `SourceRow`s aligned with `headers`. A file
that cannot be read at all raises `FileFormatError`, whose message is one sentence a marketer can
act on; a problem confined to one row is reported on that row (`SourceRow.error`). Row numbers
are the ones the user sees, with the word `SourceInfo.row_label` gives: a CSV or sheet "Row"
(the header is row 1, and blank rows keep the file's own numbering), an NDJSON "Line" (the
physical line, blank lines counted) and a JSON array's "Record" (the first record is 1). They
label rows; they are not positions (a resumed import skips a count of rows, not a number).
The readers themselves live in `app.imports.readers`.
"""

from __future__ import annotations

from itertools import islice
from typing import Protocol

from app.imports.readers.delimited import (
    count_delimited_rows,
    estimate_delimited_rows,
    open_delimited,
    progress_delimited_rows,
)
from app.imports.readers.detection import detect_file_type
from app.imports.readers.json_records import count_json_rows, estimate_json_rows, open_json
from app.imports.readers.spreadsheet import (
    check_package,
    count_spreadsheet_rows,
    estimate_spreadsheet_rows,
    open_spreadsheet,
    progress_spreadsheet_rows,
)
from app.imports.readers.table import (
    DEFAULT_LIMITS,
    FileFormatError,
    ReaderLimits,
    SourceInfo,
    SourceRow,
    Table,
)

__all__ = [
    "FILE_TYPES",
    "FileFormatError",
    "ReaderLimits",
    "SourceInfo",
    "SourceRow",
    "Table",
    "check_source",
    "count_data_rows",
    "detect_file_type",
    "estimate_data_rows",
    "open_as",
    "open_table",
    "preview_rows",
    "progress_total",
]

FILE_TYPES = ("csv", "xlsx", "json")


def open_table(
    path: str,
    file_type: str | None = None,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    limits: ReaderLimits = DEFAULT_LIMITS,
    stream: bool = False,
    check: bool = True,
) -> Table:
    """Open a source file, detecting its type, encoding, delimiter or sheet unless given.

    `stream`: a workbook is read by the streaming reader whatever its size; `check=False`:
    its package is not checked, the caller does it (see `open_spreadsheet`)."""
    file_type = file_type or detect_file_type(path)
    if file_type == "csv":
        return open_delimited(path, encoding=encoding, delimiter=delimiter, limits=limits)
    if file_type == "xlsx":
        return open_spreadsheet(path, sheet=sheet, limits=limits, stream=stream, check=check)
    if file_type == "json":
        return open_json(path, encoding=encoding, limits=limits)
    raise ValueError(f"file_type must be one of {FILE_TYPES}, not {file_type!r}")


def count_data_rows(path: str, info: SourceInfo) -> int:
    """Count the data rows exactly, in one pass over the file (blank rows not counted)."""
    if info.file_type == "csv":
        return count_delimited_rows(path, info)
    if info.file_type == "xlsx":
        return count_spreadsheet_rows(path, info)
    return count_json_rows(path, info)


def progress_total(path: str, info: SourceInfo) -> int:
    """The data rows an import's progress counts towards, counted without parsing the rows: a
    workbook's `<row>` elements, a delimited file's line ends (a JSON file's are counted
    exactly); the import stores the exact total at the end."""
    if info.file_type == "xlsx":
        return progress_spreadsheet_rows(path, info)
    if info.file_type == "csv":
        return progress_delimited_rows(path, info)
    return count_data_rows(path, info)


def estimate_data_rows(path: str, info: SourceInfo) -> int:
    """Estimate the data rows cheaply for the upload screen; exact for files under 1 MB."""
    if info.file_type == "csv":
        return estimate_delimited_rows(path, info)
    if info.file_type == "xlsx":
        return estimate_spreadsheet_rows(path, info)
    return estimate_json_rows(path, info)


class ReadSettings(Protocol):
    """How a file was found to be read: a `SourceInfo`, or an import's options."""

    @property
    def file_type(self) -> str | None: ...
    @property
    def encoding(self) -> str | None: ...
    @property
    def delimiter(self) -> str | None: ...
    @property
    def sheet(self) -> str | None: ...


def open_as(
    path: str,
    settings: ReadSettings,
    *,
    limits: ReaderLimits = DEFAULT_LIMITS,
    stream: bool = False,
    check: bool = True,
) -> Table:
    """Open a file with the type, encoding, delimiter and sheet found for it before."""
    return open_table(
        path,
        settings.file_type,
        encoding=settings.encoding,
        delimiter=settings.delimiter,
        sheet=settings.sheet,
        limits=limits,
        stream=stream,
        check=check,
    )


def check_source(path: str, info: SourceInfo, limits: ReaderLimits = DEFAULT_LIMITS) -> None:
    """The checks a file opened with `check=False` skipped (a workbook's package: ZIP and grid
    bombs); raises FileFormatError."""
    if info.file_type == "xlsx":
        check_package(path, limits)


def preview_rows(path: str, info: SourceInfo, n: int = 10) -> list[SourceRow]:
    """The first `n` data rows, read with the settings recorded in `info`."""
    with open_as(path, info) as table:
        return list(islice(table.rows(), n))
