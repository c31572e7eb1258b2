"""The table every reader returns: limits, source facts, rows, errors and header naming."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from types import TracebackType


class FileFormatError(Exception):
    """The whole file cannot be read; the message tells a marketer why and what to do."""


@dataclass(frozen=True, slots=True)
class ReaderLimits:
    """Bounds that keep one upload from exhausting the worker."""

    max_columns: int = 500
    max_cell_chars: int = 32_768
    max_rows: int = 5_000_000
    max_unzipped_bytes: int = 1 << 30
    max_sheet_cells: int = 50_000_000  # a worksheet's grid, first to last cell (~32 bytes each)


DEFAULT_LIMITS = ReaderLimits()


ROW = "Row"
LINE = "Line"
RECORD = "Record"


def row_label(file_type: str | None, json_format: str | None = None) -> str:
    """The word a source's row numbers are shown with: "Row" for a CSV or sheet row, "Line"
    for an NDJSON line and "Record" for a record of a JSON array (all numbered from 1)."""
    if file_type == "json":
        return LINE if json_format == "ndjson" else RECORD
    return ROW


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One data row: `line` is the number the user sees (with the source's `row_label`),
    `values` align with the headers."""

    line: int
    values: list[str]
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceInfo:
    """What was detected (or chosen) about a source file; what its type does not have is None."""

    file_type: str
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    sheets: list[str] = field(default_factory=list)
    headers: list[str]
    json_format: str | None = None

    @property
    def row_label(self) -> str:
        """How this source names its rows in messages and reports: "Row", "Line" or "Record"."""
        return row_label(self.file_type, self.json_format)


class Table(ABC):
    """An open source file whose data rows can be streamed; use it as a context manager.

    The limits every reader keeps are kept here, on the rows its `_iter_rows` yields: past
    `max_rows` rows the file is refused, and in a row without another error a value longer
    than `max_cell_chars` is cut and the row's error names it.
    """

    def __init__(self, info: SourceInfo, limits: ReaderLimits) -> None:
        self.info = info
        self._limits = limits
        self._streams: list[Generator[SourceRow, None, None]] = []

    @property
    def headers(self) -> list[str]:
        """The distinct, visible column names."""
        return self.info.headers

    def rows(self) -> Iterator[SourceRow]:
        """Stream the data rows from the top of the file; each call starts again."""
        stream = self._within_limits(self._iter_rows())
        self._streams.append(stream)
        return stream

    def close(self) -> None:
        """Stop any unfinished row streams and release the file."""
        for stream in self._streams:
            stream.close()
        self._streams.clear()
        self._release()

    def __enter__(self) -> Table:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @abstractmethod
    def _iter_rows(self) -> Generator[SourceRow, None, None]:
        """Yield the data rows; subclasses open their own file handles inside."""

    @abstractmethod
    def _release(self) -> None:
        """Free what the table holds for its whole lifetime, such as an open workbook."""

    def _within_limits(
        self, rows: Generator[SourceRow, None, None]
    ) -> Generator[SourceRow, None, None]:
        """The rows, refused past `max_rows`, over-long values cut in rows without an error."""
        limits = self._limits
        max_rows = limits.max_rows
        max_cell = limits.max_cell_chars
        headers = self.info.headers
        label = self.info.row_label
        try:
            for count, row in enumerate(rows, start=1):
                if count > max_rows:
                    raise too_many_rows(limits)
                values = row.values
                if not row.error and values and max(map(len, values)) > max_cell:
                    cut = cut_long_cells(row.line, values, headers, limits, label)
                    row = SourceRow(row.line, values, cut)
                yield row
        finally:
            rows.close()

    def stated_rows(self) -> int | None:
        """The data rows the file says it holds, without reading them (a worksheet's stated
        extent); None when it does not say. Trusted for nothing but choosing how to read."""
        return None


def distinct_headers(cells: list[str]) -> list[str]:
    """Trim header cells and give empty or repeated ones visible, distinct names.

    NUL characters are dropped: no database text column can hold them.
    """
    names: list[str] = []
    taken: set[str] = set()
    for position, cell in enumerate(cells, start=1):
        base = cell.replace("\x00", "").strip() or f"Column {position}"
        name = base
        copy = 2
        while name.casefold() in taken:
            name = f"{base} ({copy})"
            copy += 1
        taken.add(name.casefold())
        names.append(name)
    return names


def check_column_count(count: int, limits: ReaderLimits) -> None:
    """Refuse a header wider than the column limit."""
    if count > limits.max_columns:
        raise FileFormatError(
            f"The file has {count:,} columns; the limit is {limits.max_columns:,}: "
            "remove the columns you don't need and upload it again."
        )


def too_many_rows(limits: ReaderLimits) -> FileFormatError:
    """The error for a file with more data rows than one import takes."""
    return FileFormatError(
        f"The file has more than {limits.max_rows:,} rows, the most one import can take: "
        "split it into smaller files and upload them one by one."
    )


def cell_too_long(
    line: int, column: str, length: int, limits: ReaderLimits, label: str = ROW
) -> str:
    """The row error for a value over the length limit (the value is cut to the limit)."""
    return (
        f'{label} {line}: the value in column "{column}" is {length:,} characters long; '
        f"the limit is {limits.max_cell_chars:,} characters, so it was cut."
    )


def cut_long_cells(
    line: int, values: list[str], headers: list[str], limits: ReaderLimits, label: str = ROW
) -> str:
    """Cut every over-long value in place and describe the first one."""
    limit = limits.max_cell_chars
    message = ""
    for index, value in enumerate(values):
        if len(value) > limit:
            if not message:
                message = cell_too_long(line, headers[index], len(value), limits, label)
            values[index] = value[:limit]
    return message


def drop_nul_characters(line: int, values: list[str], headers: list[str], label: str = ROW) -> str:
    """Remove NUL characters (binary data) from a row in place and describe the first one.

    A NUL cannot be stored in any database text column, so the row is refused with this
    message; its cleaned values still go into the error report.
    """
    message = ""
    for index, value in enumerate(values):
        if "\x00" in value:
            if not message:
                message = (
                    f'{label} {line}: the value in column "{headers[index]}" contains binary data '
                    "(a NUL character), which cannot be stored: check this row in the original "
                    "file, remove the stray character and import the row again."
                )
            values[index] = value.replace("\x00", "")
    return message
