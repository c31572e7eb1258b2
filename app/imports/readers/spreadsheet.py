"""Read XLSX workbooks with python-calamine, after checking the ZIP package is safe to open.

Calamine parses a whole worksheet into native memory when it is opened; rows are then converted
to text one at a time. Row numbers are the sheet's own (Excel's row 5 is row 5), so the header
is row 1 unless blank rows sit above it. Cells become text the way a marketer expects: dates as
ISO (`2024-05-01`, `2024-05-01T13:45:00`), whole numbers without `.0`, booleans as `true` and
`false`, durations as `h:mm:ss`; formula cells give their cached value and error cells are blank.
"""

from __future__ import annotations

import datetime
import functools
import itertools
import os
import zipfile
from collections.abc import Callable, Generator, Iterator
from decimal import Decimal
from typing import Any

from python_calamine import (
    CalamineError,
    CalamineSheet,
    CalamineWorkbook,
    PasswordError,
    SheetTypeEnum,
    SheetVisibleEnum,
)

from app.imports.readers.detection import (
    OLE2_MAGIC,
    ZIP_MAGIC,
    empty_file_error,
    not_a_workbook_error,
    ole2_error,
    password_error,
    read_sample,
    zip_file_type,
)
from app.imports.readers.sheet_extent import PackageTooStrange, widest_grid
from app.imports.readers.table import (
    DEFAULT_LIMITS,
    FileFormatError,
    ReaderLimits,
    SourceInfo,
    SourceRow,
    Table,
    check_column_count,
    cut_long_cells,
    distinct_headers,
    too_many_rows,
)

Cell = str | float | int | bool | datetime.date | datetime.time | datetime.timedelta
MAX_MEMBERS = 10_000
EXACT_ESTIMATE_ROWS = 20_000
LARGE_MEMBER_BYTES = 10 << 20
MAX_COMPRESSION_RATIO = 200
_PLAIN_WHOLE_LIMIT = 1e16


def open_spreadsheet(
    path: str, *, sheet: str | None = None, limits: ReaderLimits = DEFAULT_LIMITS
) -> SpreadsheetTable:
    """Open a workbook, pick the sheet (the first with data unless named) and read its header."""
    check_package(path, limits)
    workbook = _load_workbook(path)
    try:
        names = _worksheet_names(workbook)
        chosen, header_index, cells = _choose_sheet(workbook, names, sheet)
        check_column_count(len(cells), limits)
    except BaseException:
        workbook.close()
        raise
    info = SourceInfo(
        file_type="xlsx",
        encoding=None,
        delimiter=None,
        sheet=chosen.name,
        sheets=[name for name, _visible in names],
        headers=distinct_headers(cells),
        json_format=None,
    )
    start = chosen.start
    first_column = start[1] if start else 0
    return SpreadsheetTable(workbook, chosen, info, header_index, first_column, limits)


class SpreadsheetTable(Table):
    """One worksheet of an open workbook."""

    def __init__(
        self,
        workbook: CalamineWorkbook,
        sheet: CalamineSheet,
        info: SourceInfo,
        header_index: int,
        first_column: int,
        limits: ReaderLimits,
    ) -> None:
        super().__init__(info)
        self._workbook = workbook
        self._sheet = sheet
        self._header_index = header_index
        self._first_column = first_column
        self._limits = limits

    def _iter_rows(self) -> Generator[SourceRow, None, None]:
        headers = self.info.headers
        width = len(headers)
        limits = self._limits
        max_cell = limits.max_cell_chars
        max_rows = limits.max_rows
        text_of = _TEXT_BY_TYPE.get
        header_line = self._header_index + 1
        count = 0
        numbered = enumerate(_guarded(self._sheet.iter_rows()), start=1)
        for line, row in itertools.islice(numbered, header_line, None):
            if row.count("") == len(row):
                continue
            count += 1
            if count > max_rows:
                raise too_many_rows(limits)
            error = None
            if len(row) > width:
                extra = row[width:]
                if extra.count("") != len(extra):
                    error = self._unnamed_column_error(line, width, extra)
                row = row[:width]
            values = [
                cell if type(cell) is str else text_of(type(cell), cell_text)(cell) for cell in row
            ]
            if len(values) < width:
                values.extend([""] * (width - len(values)))
            if max(map(len, values)) > max_cell:
                error = error or cut_long_cells(line, values, headers, limits)
            yield SourceRow(line, values, error)

    def _unnamed_column_error(self, line: int, width: int, extra: list[Cell]) -> str:
        """Describe a value in a column to the right of the last named column."""
        offset = next(index for index, cell in enumerate(extra) if cell != "")
        letter = column_letter(self._first_column + width + offset)
        return (
            f"Row {line} has a value in column {letter}, but that column has no name in the "
            f"header row (row {self._header_index + 1}): add a column name or delete the value."
        )

    def _release(self) -> None:
        """Close the workbook."""
        try:
            self._workbook.close()
        except CalamineError:
            return


def count_spreadsheet_rows(path: str, info: SourceInfo) -> int:
    """Count the non-blank rows below the header of the chosen sheet."""
    with open_spreadsheet(path, sheet=info.sheet) as table:
        return sum(1 for _row in table.rows())


def estimate_spreadsheet_rows(path: str, info: SourceInfo) -> int:
    """The sheet's used range minus the header row; exact (blank rows left out) for small sheets."""
    check_package(path, DEFAULT_LIMITS)
    workbook = _load_workbook(path)
    try:
        sheet = _load_sheet(workbook, info.sheet or _worksheet_names(workbook)[0][0])
        start, end = sheet.start, sheet.end
        if start is None or end is None:
            return 0
        if end[0] - start[0] > EXACT_ESTIMATE_ROWS:
            return end[0] - start[0]
        found = _find_header(sheet)
        header_line = found[0] + 1 if found else 0
        filled = enumerate(_guarded(sheet.iter_rows()), start=1)
        return sum(
            1
            for _line, row in itertools.islice(filled, header_line, None)
            if row.count("") != len(row)
        )
    finally:
        workbook.close()


def check_package(path: str, limits: ReaderLimits) -> None:
    """Refuse anything but a workbook ZIP, ZIP bombs and grid bombs, before calamine unpacks it.

    The check reads every part once, so its outcome is remembered for the file as it is now
    (path, size and modification time): opening, counting and previewing check it only once.
    """
    sample, _at_eof = read_sample(path, 8)
    if not sample:
        raise empty_file_error()
    if sample.startswith(OLE2_MAGIC):
        raise ole2_error(path)
    if not sample.startswith(ZIP_MAGIC):
        raise not_a_workbook_error()
    stat = os.stat(path)
    _check_package_once(path, stat.st_size, stat.st_mtime_ns, stat.st_ino, limits)


@functools.lru_cache(maxsize=16)
def _check_package_once(
    path: str, size: int, modified: int, inode: int, limits: ReaderLimits
) -> None:
    """The package checks for one version of a file (failures are not remembered)."""
    zip_file_type(path)
    unsafe = FileFormatError(
        "This workbook looks damaged or unsafe (it unpacks to far more data than its size "
        "suggests): open it in Excel, save it again and upload it again."
    )
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                raise unsafe
            total = 0
            for member in members:
                total += member.file_size
                if member.file_size > LARGE_MEMBER_BYTES and member.file_size > (
                    MAX_COMPRESSION_RATIO * max(member.compress_size, 1)
                ):
                    raise unsafe
            if total > limits.max_unzipped_bytes:
                raise FileFormatError(
                    f"This workbook unpacks to {total / (1 << 20):,.0f} MB, more than the "
                    f"{limits.max_unzipped_bytes / (1 << 20):,.0f} MB we can read: split it into "
                    "smaller files or save it as CSV, and upload it again."
                )
            grid = widest_grid(archive)
    except PackageTooStrange as exc:
        raise unsafe from exc
    except FileFormatError:
        raise
    except Exception as exc:  # zipfile and its decompressors fail in many ways on damaged parts
        raise not_a_workbook_error() from exc
    if grid.cells > limits.max_sheet_cells:
        raise FileFormatError(
            f"A sheet of this workbook has cells as far down as row {grid.rows:,} and as far "
            f"right as column {column_letter(min(grid.columns, 16_384) - 1)}: a grid of "
            f"{grid.cells:,} cells, more than the {limits.max_sheet_cells:,} we can read. "
            "Delete the empty rows and columns around your data (or save the sheet as CSV) "
            "and upload it again."
        )


def _damaged_error() -> FileFormatError:
    """The error for a workbook calamine cannot parse."""
    return FileFormatError(
        "This Excel workbook could not be read (it may be damaged or made by an unusual "
        "program): open it in Excel, save it as Excel Workbook (.xlsx) and upload it again."
    )


def _load_workbook(path: str) -> CalamineWorkbook:
    """Open the workbook, translating calamine's failures."""
    try:
        return CalamineWorkbook.from_path(path)
    except PasswordError as exc:
        raise password_error() from exc
    except Exception as exc:  # calamine's own and pyo3 conversion errors alike
        raise _damaged_error() from exc
    except BaseException as exc:
        raise _if_rust_panic(exc) from exc


def _load_sheet(workbook: CalamineWorkbook, name: str) -> CalamineSheet:
    """Parse one worksheet, translating calamine's failures."""
    try:
        return workbook.get_sheet_by_name(name)
    except Exception as exc:
        raise _damaged_error() from exc
    except BaseException as exc:
        raise _if_rust_panic(exc) from exc


def _guarded(rows: Iterator[list[Cell]]) -> Iterator[list[Cell]]:
    """Pass rows through, translating failures inside calamine's iterator."""
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception as exc:
            raise _damaged_error() from exc
        except BaseException as exc:
            raise _if_rust_panic(exc) from exc
        yield row


def _if_rust_panic(exc: BaseException) -> BaseException:
    """A Rust panic (pyo3's PanicException) becomes a damaged-file error; others stay as is."""
    if type(exc).__name__ == "PanicException":
        return _damaged_error()
    return exc


def _worksheet_names(workbook: CalamineWorkbook) -> list[tuple[str, bool]]:
    """(name, visible) of every worksheet in workbook order; chart and macro sheets left out."""
    try:
        metadata = workbook.sheets_metadata
    except Exception as exc:
        raise _damaged_error() from exc
    names = [
        (sheet.name, sheet.visible == SheetVisibleEnum.Visible)
        for sheet in metadata
        if sheet.typ == SheetTypeEnum.WorkSheet
    ]
    if not names:
        raise FileFormatError(
            "This workbook has no worksheets: check you exported the right file "
            "and upload it again."
        )
    return names


def _choose_sheet(
    workbook: CalamineWorkbook, names: list[tuple[str, bool]], wanted: str | None
) -> tuple[CalamineSheet, int, list[str]]:
    """Return the sheet to read with its header row index and header cells."""
    if wanted is not None:
        if wanted not in {name for name, _visible in names}:
            choices = ", ".join(f'"{name}"' for name, _visible in names)
            raise FileFormatError(
                f'There is no sheet named "{wanted}" in this workbook: choose one of {choices}.'
            )
        sheet = _load_sheet(workbook, wanted)
        found = _find_header(sheet)
        if found is None:
            raise FileFormatError(f'The sheet "{wanted}" is empty: choose another sheet.')
        return sheet, *found
    visible_first = sorted(names, key=lambda item: not item[1])
    for name, _visible in visible_first:
        sheet = _load_sheet(workbook, name)
        found = _find_header(sheet)
        if found is not None:
            return sheet, *found
    raise FileFormatError(
        "This workbook has no data: every sheet is empty. "
        "Check you exported the right file and upload it again."
    )


def _find_header(sheet: CalamineSheet) -> tuple[int, list[str]] | None:
    """The index and trimmed cells of the first row with text, cut after its last named column."""
    if sheet.start is None:
        return None
    for index, row in enumerate(_guarded(sheet.iter_rows())):
        cells = [cell_text(cell).strip() for cell in row]
        filled = [position for position, cell in enumerate(cells) if cell]
        if filled:
            return index, cells[: filled[-1] + 1]
    return None


def column_letter(index: int) -> str:
    """Excel's letters for a 0-based column index (0 -> A, 27 -> AB)."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def cell_text(value: Cell) -> str:
    """Text for one calamine cell value."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return _bool_text(value)
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, datetime.datetime):
        return _datetime_text(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return _duration_text(value)
    return str(value)


def float_text(value: float) -> str:
    """A float as a person writes it: `12` not `12.0`, `0.0000001` not `1e-07`."""
    if value.is_integer() and -_PLAIN_WHOLE_LIMIT < value < _PLAIN_WHOLE_LIMIT:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        number = Decimal(text)
        if -30 < number.adjusted() < 30:
            return format(number, "f")
    return text


def _bool_text(value: bool) -> str:
    """Booleans as `true` / `false`."""
    return "true" if value else "false"


def _datetime_text(value: datetime.datetime) -> str:
    """ISO date, with the time only when there is one."""
    if value.time() == datetime.time():
        return value.date().isoformat()
    return value.isoformat(timespec="seconds" if not value.microsecond else "milliseconds")


def _duration_text(value: datetime.timedelta) -> str:
    """A duration as Excel's `[h]:mm:ss`."""
    seconds = round(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{seconds:02d}"


# Exact-type dispatch for the row loop; cell_text handles anything else.
_TEXT_BY_TYPE: dict[type, Callable[[Any], str]] = {
    float: float_text,
    bool: _bool_text,
    int: str,
    datetime.date: datetime.date.isoformat,
    datetime.datetime: _datetime_text,
    datetime.time: datetime.time.isoformat,
    datetime.timedelta: _duration_text,
}
