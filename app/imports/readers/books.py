"""The two readers of a workbook's sheets, behind one interface: python-calamine (fast, holds
the whole sheet) and the streaming reader (`xlsx_stream`, flat memory), and the choice between
them by the sheet's size. `spreadsheet` checks the package and reads the header and rows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator

from python_calamine import (
    CalamineError,
    CalamineSheet,
    CalamineWorkbook,
    PasswordError,
    SheetTypeEnum,
    SheetVisibleEnum,
)

from app.imports.readers.cell_text import TEXT_BY_TYPE, Cell, cell_text
from app.imports.readers.detection import password_error
from app.imports.readers.table import FileFormatError
from app.imports.readers.xlsx_parts import WorkbookDamaged
from app.imports.readers.xlsx_stream import StreamingWorkbook

# calamine reads 3x faster but holds the whole sheet: measured, about 2 MB per MB of sheet XML
# with shared strings (1,048,575 rows: 377 MB of XML, 829 MB) and 1.5 MB with inline strings
# (100,000 rows as openpyxl writes them: 58.5 MB of XML, 90 MB more; 2.1 s against 6.5 s
# streamed). Up to 80 MB of XML (200,000 to 250,000 rows of 10 columns) calamine stays under
# ~230 MB in the reading process; bigger sheets stream.
STREAM_FROM_BYTES = 80 << 20


def _damaged_error() -> FileFormatError:
    """The error for a workbook neither reader can parse."""
    return FileFormatError(
        "This Excel workbook could not be read (it may be damaged or made by an unusual "
        "program): open it in Excel, save it as Excel Workbook (.xlsx) and upload it again."
    )


class SheetRows(ABC):
    """A worksheet's rows as text, from its first used column, with the sheet's own numbers."""

    first_column: int | None  # None when no cell of the sheet holds a value

    @abstractmethod
    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(row number, cell texts) from the top; rows may be left out only when blank."""

    @abstractmethod
    def row_span(self) -> int | None:
        """Last used row minus first, if known without reading the sheet."""

    def stated_bytes(self) -> int | None:
        """The sheet's unpacked XML size as its package states it, if known."""
        return None


class Book(ABC):
    """An open workbook, read by one of the two readers."""

    @abstractmethod
    def worksheet_names(self) -> list[tuple[str, bool]]:
        """(name, visible) of every worksheet in workbook order; chart and macro sheets left out."""

    @abstractmethod
    def sheet(self, name: str) -> SheetRows:
        """One worksheet by name (the name is one of `worksheet_names`)."""

    @abstractmethod
    def close(self) -> None:
        """Release the file."""


def open_book(path: str, stream: bool = False) -> Book:
    """The streaming reader for a workbook with a large worksheet, calamine for small ones."""
    streaming = StreamingBook(path)
    if stream or streaming.largest_worksheet_bytes() >= STREAM_FROM_BYTES:
        return streaming
    streaming.close()
    return CalamineBook(path)


def _no_worksheets(names: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """Refuse a workbook without worksheets."""
    if not names:
        raise FileFormatError(
            "This workbook has no worksheets: check you exported the right file "
            "and upload it again."
        )
    return names


class CalamineBook(Book):
    """A workbook parsed by python-calamine, one whole worksheet at a time."""

    def __init__(self, path: str) -> None:
        self._workbook = _load_workbook(path)

    def worksheet_names(self) -> list[tuple[str, bool]]:
        try:
            metadata = self._workbook.sheets_metadata
        except Exception as exc:
            raise _damaged_error() from exc
        return _no_worksheets(
            [
                (sheet.name, sheet.visible == SheetVisibleEnum.Visible)
                for sheet in metadata
                if sheet.typ == SheetTypeEnum.WorkSheet
            ]
        )

    def sheet(self, name: str) -> SheetRows:
        return CalamineSheetRows(_load_sheet(self._workbook, name))

    def close(self) -> None:
        try:
            self._workbook.close()
        except CalamineError:
            return


class CalamineSheetRows(SheetRows):
    """A calamine worksheet; its rows start at row 1 and at its first used column."""

    def __init__(self, sheet: CalamineSheet) -> None:
        self._sheet = sheet
        start = sheet.start
        self.first_column = start[1] if start else None

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        if self.first_column is None:
            return
        text_of = TEXT_BY_TYPE.get
        for line, row in enumerate(_guarded(self._sheet.iter_rows()), start=1):
            yield (
                line,
                [
                    cell if type(cell) is str else text_of(type(cell), cell_text)(cell)
                    for cell in row
                ],
            )

    def row_span(self) -> int | None:
        start, end = self._sheet.start, self._sheet.end
        return end[0] - start[0] if start and end else None


class StreamingBook(Book):
    """A workbook read by the streaming reader, its worksheets never held whole."""

    def __init__(self, path: str) -> None:
        try:
            self._workbook = StreamingWorkbook(path)
        except WorkbookDamaged as exc:
            raise _damaged_error() from exc
        self._entries = {entry.name: entry for entry in self._workbook.sheets if entry.worksheet}

    def largest_worksheet_bytes(self) -> int:
        """The unpacked size of the largest worksheet part."""
        return max((self._workbook.part_size(e.part) for e in self._entries.values()), default=0)

    def worksheet_names(self) -> list[tuple[str, bool]]:
        return _no_worksheets([(entry.name, entry.visible) for entry in self._entries.values()])

    def sheet(self, name: str) -> SheetRows:
        return StreamingSheetRows(self._workbook, self._entries[name].part)

    def row_elements(self, name: str) -> int | None:
        """The `<row>` elements of a worksheet, counted in its bytes; None for no such sheet."""
        entry = self._entries.get(name)
        return None if entry is None else self._workbook.row_elements(entry.part)

    def close(self) -> None:
        self._workbook.close()


class StreamingSheetRows(SheetRows):
    """A worksheet streamed from its XML; a first pass finds its first used column."""

    def __init__(self, workbook: StreamingWorkbook, part: str) -> None:
        self._workbook = workbook
        self._part = part
        first: int | None = None
        rows = self._stream()
        try:
            for _line, column, _values in rows:
                first = column if first is None else min(first, column)
                if first == 0:
                    break
        finally:
            rows.close()
        self.first_column = first

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        first = self.first_column
        if first is None:
            return
        for line, _column, values in self._stream():
            yield line, values[first:] if first else values

    def stated_bytes(self) -> int | None:
        return self._workbook.part_size(self._part) or None

    def row_span(self) -> int | None:
        try:
            rows = self._workbook.dimension_rows(self._part)
        except WorkbookDamaged:
            return None
        return rows[1] - rows[0] if rows else None

    def _stream(self) -> Generator[tuple[int, int, list[str]], None, None]:
        """The reader's rows, its failures turned into the damaged-workbook message."""
        try:
            yield from self._workbook.rows(self._part)
        except WorkbookDamaged as exc:
            raise _damaged_error() from exc


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
