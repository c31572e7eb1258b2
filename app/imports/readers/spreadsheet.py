"""Read XLSX workbooks, after checking the ZIP package is safe to open.

Two readers give the same rows. python-calamine parses a whole worksheet into native memory
when it is opened (fast, but 1 GB for a million rows); the streaming reader
(`xlsx_stream`) reads the sheet XML a piece at a time. Workbooks whose largest worksheet
unpacks to `STREAM_FROM_BYTES` or more are streamed, smaller ones go to calamine.

Row numbers are the sheet's own (Excel's row 5 is row 5), so the header is row 1 unless blank
rows sit above it. Cells become text the way a marketer expects (see `cell_text`): dates as
ISO (`2024-05-01`, `2024-05-01T13:45:00`), whole numbers without `.0`, booleans as `true` and
`false`, durations as `h:mm:ss`; formula cells give their cached value and error cells are blank.
"""

from __future__ import annotations

import functools
import os
import zipfile
from collections.abc import Generator

from app.imports.readers import table
from app.imports.readers.books import (
    Book,
    SheetRows,
    StreamingBook,
    open_book,
)
from app.imports.readers.detection import (
    OLE2_MAGIC,
    ZIP_MAGIC,
    empty_file_error,
    not_a_workbook_error,
    ole2_error,
    read_sample,
    zip_file_type,
)
from app.imports.readers.sheet_extent import PackageTooStrange, widest_grid
from app.imports.readers.table import FileFormatError, ReaderLimits, SourceInfo, SourceRow, Table

MAX_MEMBERS = 10_000
EXACT_ESTIMATE_ROWS = 20_000
LARGE_MEMBER_BYTES = 10 << 20
MAX_COMPRESSION_RATIO = 200
# A sheet's XML takes 300-600 bytes a row of 10 columns (shared or inline strings): a sheet
# stating no extent counts as its size over this many rows, to choose how to read it.
STATED_BYTES_PER_ROW = 300


def open_spreadsheet(
    path: str,
    *,
    sheet: str | None = None,
    limits: ReaderLimits = table.DEFAULT_LIMITS,
    stream: bool = False,
    check: bool = True,
) -> SpreadsheetTable:
    """Open a workbook, pick the sheet (the first with data unless named) and read its header.

    `stream` takes the streaming reader whatever the sheet's size: for a caller that needs the
    header and not the rows (an import whose rows another process reads), calamine would parse
    the whole sheet for nothing. `check=False` leaves `check_package` to the caller: only for
    a caller that runs it before it uses any row, and opens with calamine only in a process
    whose memory is capped (`app.imports.pipeline.ChildBatches`). The ZIP's directory is
    checked in any case (ZIP bombs: milliseconds): only the grid measurement is left out.
    """
    check_package(path, limits, grid=check)
    book = open_book(path, stream)
    try:
        names = book.worksheet_names()
        chosen, chosen_name, header_line, cells = _choose_sheet(book, names, sheet)
        table.check_column_count(len(cells), limits)
    except BaseException:
        book.close()
        raise
    info = SourceInfo(
        file_type="xlsx",
        sheet=chosen_name,
        sheets=[name for name, _visible in names],
        headers=table.distinct_headers(cells),
    )
    return SpreadsheetTable(book, chosen, info, header_line, limits)


class SpreadsheetTable(Table):
    """One worksheet of an open workbook."""

    def __init__(
        self,
        book: Book,
        sheet: SheetRows,
        info: SourceInfo,
        header_line: int,
        limits: ReaderLimits,
    ) -> None:
        super().__init__(info, limits)
        self._book = book
        self._sheet = sheet
        self._header_line = header_line

    def _iter_rows(self) -> Generator[SourceRow, None, None]:
        width = len(self.info.headers)
        header_line = self._header_line
        for line, values in self._sheet.rows():
            if line <= header_line or values.count("") == len(values):
                continue
            error = None
            if len(values) > width:
                extra = values[width:]
                if extra.count("") != len(extra):
                    error = self._unnamed_column_error(line, width, extra)
                values = values[:width]
            elif len(values) < width:
                values.extend([""] * (width - len(values)))
            yield SourceRow(line, values, error)

    def _unnamed_column_error(self, line: int, width: int, extra: list[str]) -> str:
        """Describe a value in a column to the right of the last named column."""
        offset = next(index for index, cell in enumerate(extra) if cell != "")
        letter = column_letter((self._sheet.first_column or 0) + width + offset)
        return (
            f"Row {line} has a value in column {letter}, but that column has no name in the "
            f"header row (row {self._header_line}): add a column name or delete the value."
        )

    def _release(self) -> None:
        """Close the workbook."""
        self._book.close()

    def stated_rows(self) -> int | None:
        """The rows below the header by the sheet's stated extent (its `<dimension>`), or, for
        a sheet that states none (openpyxl's write-only mode), by its stated unpacked size at
        `STATED_BYTES_PER_ROW` a row."""
        span = self._sheet.row_span()
        if span is not None:
            return max(span - (self._header_line - 1), 0)
        size = self._sheet.stated_bytes()
        return None if size is None else size // STATED_BYTES_PER_ROW


def count_spreadsheet_rows(path: str, info: SourceInfo) -> int:
    """Count the non-blank rows below the header of the chosen sheet."""
    with open_spreadsheet(path, sheet=info.sheet) as sheet:
        return sum(1 for _row in sheet.rows())


def progress_spreadsheet_rows(path: str, info: SourceInfo) -> int:
    """The rows below the header for an import's progress, from the sheet's `<row>` elements.

    Counting exactly means parsing the whole sheet once more before the import reads it (about
    a third of a 100k-row workbook's import time, whichever reader), so the `<row>` elements
    are counted in the XML's bytes instead (a formatted blank row counts too); the import sets
    the exact total when it ends.
    """
    streaming = StreamingBook(path)
    try:
        if info.sheet:
            rows = streaming.row_elements(info.sheet)
            if rows is not None:
                return max(rows - 1, 0)  # less the header's
    finally:
        streaming.close()
    return count_spreadsheet_rows(path, info)


def estimate_spreadsheet_rows(path: str, info: SourceInfo) -> int:
    """The sheet's used range minus the header row; exact (blank rows left out) for small sheets."""
    check_package(path, table.DEFAULT_LIMITS)
    book = open_book(path)
    try:
        sheet = book.sheet(info.sheet or book.worksheet_names()[0][0])
        if sheet.first_column is None:
            return 0
        span = sheet.row_span()
        if span is not None and span > EXACT_ESTIMATE_ROWS:
            return span
        found = _find_header(sheet)
        header_line = found[0] if found else 0
        return sum(
            1
            for line, values in sheet.rows()
            if line > header_line and values.count("") != len(values)
        )
    finally:
        book.close()


def check_package(path: str, limits: ReaderLimits, grid: bool = True) -> None:
    """Refuse anything but a workbook ZIP, ZIP bombs and grid bombs, before calamine unpacks it.

    The check reads every part once, so its outcome is remembered for the file as it is now
    (path, size and modification time): opening, counting and previewing check it only once.
    `grid=False` checks only what the ZIP's directory tells (its members, their sizes and
    compression ratios: milliseconds) and leaves the grid bombs, which only calamine meets, to
    a later `check_package` (see `open_spreadsheet`).
    """
    sample, _at_eof = read_sample(path, 8)
    if not sample:
        raise empty_file_error()
    if sample.startswith(OLE2_MAGIC):
        raise ole2_error(path)
    if not sample.startswith(ZIP_MAGIC):
        raise not_a_workbook_error()
    stat = os.stat(path)
    _check_package_once(path, stat.st_size, stat.st_mtime_ns, stat.st_ino, limits, grid)


@functools.lru_cache(maxsize=16)
def _check_package_once(
    path: str, size: int, modified: int, inode: int, limits: ReaderLimits, grid: bool
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
            widest = widest_grid(archive) if grid else None
    except PackageTooStrange as exc:
        raise unsafe from exc
    except FileFormatError:
        raise
    except Exception as exc:  # zipfile and its decompressors fail in many ways on damaged parts
        raise not_a_workbook_error() from exc
    if widest is not None and widest.cells > limits.max_sheet_cells:
        raise FileFormatError(
            f"A sheet of this workbook has cells as far down as row {widest.rows:,} and as far "
            f"right as column {column_letter(min(widest.columns, 16_384) - 1)}: a grid of "
            f"{widest.cells:,} cells, more than the {limits.max_sheet_cells:,} we can read. "
            "Delete the empty rows and columns around your data (or save the sheet as CSV) "
            "and upload it again."
        )


def _choose_sheet(
    book: Book, names: list[tuple[str, bool]], wanted: str | None
) -> tuple[SheetRows, str, int, list[str]]:
    """Return the sheet to read, its name, its header row number and header cells."""
    if wanted is not None:
        if wanted not in {name for name, _visible in names}:
            choices = ", ".join(f'"{name}"' for name, _visible in names)
            raise FileFormatError(
                f'There is no sheet named "{wanted}" in this workbook: choose one of {choices}.'
            )
        sheet = book.sheet(wanted)
        found = _find_header(sheet)
        if found is None:
            raise FileFormatError(f'The sheet "{wanted}" is empty: choose another sheet.')
        return sheet, wanted, *found
    visible_first = sorted(names, key=lambda item: not item[1])
    for name, _visible in visible_first:
        sheet = book.sheet(name)
        found = _find_header(sheet)
        if found is not None:
            return sheet, name, *found
    raise FileFormatError(
        "This workbook has no data: every sheet is empty. "
        "Check you exported the right file and upload it again."
    )


def _find_header(sheet: SheetRows) -> tuple[int, list[str]] | None:
    """The row number and trimmed cells of the first row with text, cut after its last named cell."""
    rows = sheet.rows()
    try:
        for line, row in rows:
            cells = [cell.strip() for cell in row]
            filled = [position for position, cell in enumerate(cells) if cell]
            if filled:
                return line, cells[: filled[-1] + 1]
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    return None


def column_letter(index: int) -> str:
    """Excel's letters for a 0-based column index (0 -> A, 27 -> AB)."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters
