"""The streaming XLSX reader gives the same rows as python-calamine, sheet by sheet."""

from __future__ import annotations

import datetime
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont

from app.imports.parsing import FileFormatError, SourceRow, open_table
from app.imports.readers import books, spreadsheet, xlsx_stream
from app.imports.readers.books import Book, CalamineBook, StreamingBook
from app.imports.readers.spreadsheet import check_package
from app.imports.readers.table import DEFAULT_LIMITS

WORKBOOKS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "calamine-xlsx"

SheetDump = tuple[int | None, list[tuple[int, list[str]]]]


def dump(book: Book) -> dict[str, SheetDump]:
    """Every worksheet's first column and filled rows (trailing blanks cut), by sheet name."""
    sheets: dict[str, SheetDump] = {}
    try:
        for name, _visible in book.worksheet_names():
            sheet = book.sheet(name)
            rows = []
            for line, values in sheet.rows():
                while values and values[-1] == "":
                    values = values[:-1]
                if values:
                    rows.append((line, values))
            sheets[name] = (sheet.first_column, rows)
    finally:
        book.close()
    return sheets


def both_readers(path: Path) -> tuple[object, object]:
    """What each reader makes of a workbook: its sheets, or the error message."""
    outcomes = []
    for reader in (CalamineBook, StreamingBook):
        try:
            check_package(str(path), DEFAULT_LIMITS)
            outcomes.append(dump(reader(str(path))))
        except FileFormatError as error:
            outcomes.append(str(error))
    return outcomes[0], outcomes[1]


@pytest.mark.parametrize("path", sorted(WORKBOOKS.glob("*.xlsx")), ids=lambda path: path.stem)
def test_every_corpus_workbook_reads_the_same_through_both_readers(path: Path) -> None:
    calamine, streaming = both_readers(path)

    assert streaming == calamine


def every_cell_type(path: Path, date_1904: bool) -> Path:
    """A workbook with each kind of cell openpyxl writes, gaps and blank rows above the header."""
    book = openpyxl.Workbook()
    book.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904 if date_1904 else book.epoch
    sheet = book.active
    sheet.title = "Cells"
    sheet["C3"] = "Name"
    sheet["D3"] = "Value"
    sheet["F3"] = "After a gap"
    values: list[object] = [
        "plain",
        "  padded  ",
        "line\nbreak",
        "_x000D_ escaped",
        0,
        -7,
        12.0,
        1.5,
        0.1,
        1e-7,
        1.234567890123457e19,
        3.14159265358979,
        True,
        False,
        datetime.date(2024, 5, 1),
        datetime.date(1900, 1, 1),
        datetime.date(1900, 3, 1),
        datetime.datetime(2024, 5, 1, 13, 45),
        datetime.datetime(2024, 5, 1, 13, 45, 30, 250_000),
        datetime.time(10, 10, 10),
        datetime.timedelta(hours=255, minutes=10, seconds=10),
        "=1+1",
        "#N/A",
    ]
    for row, value in enumerate(values, start=4):
        sheet.cell(row, 3, f"row {row}")
        sheet.cell(row, 4, value)
    sheet.cell(40, 6, "far below")
    sheet["D30"].number_format = "yyyy-mm-dd"  # a styled empty cell
    sheet["D31"] = 45000.25
    sheet["D31"].number_format = "[h]:mm:ss"
    sheet["D32"] = 45000.75
    sheet["D32"].number_format = 'dd"." mmmm yyyy'
    sheet["D33"] = 45000
    sheet["D33"].number_format = '0.00" days"'
    sheet["D34"] = CellRichText(["rich ", TextBlock(InlineFont(b=True), "bold"), " text"])
    book.create_sheet("Empty")
    other = book.create_sheet("Second")
    other.append(["Email", None, "Phone"])
    other.append([None, "x", 5551234])
    path = path / f"cells-{'1904' if date_1904 else '1900'}.xlsx"
    book.save(path)
    return path


def with_cached_values(path: Path) -> Path:
    """Give the formula cell a cached value and add cells openpyxl does not write."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    sheet = sheet.replace("<f>1+1</f><v />", "<f>1+1</f><v>2</v>")
    sheet = sheet.replace(
        "</sheetData>",
        '<row r="50"><c r="C50" t="str"><f>"a"&amp;"b"</f><v>ab</v></c>'
        '<c r="D50" t="inlineStr"><is><t xml:space="preserve"> kept </t></is></c>'
        '<c><v>7</v></c><c/><c t="b"><v>1</v></c></row>'
        '<row><c r="C51" t="e"><v>#DIV/0!</v></c><c t="d"><v>2024-05-01T10:00:00</v></c>'
        '<c t="d"><v>2024-05-02</v></c><c t="d"><v>10:30:00</v></c></row></sheetData>',
    )
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return path


@pytest.mark.parametrize("date_1904", [False, True], ids=["1900", "1904"])
def test_every_cell_type_reads_the_same_through_both_readers(
    tmp_path: Path, date_1904: bool
) -> None:
    path = with_cached_values(every_cell_type(tmp_path, date_1904))

    calamine, streaming = both_readers(path)

    assert streaming == calamine
    assert isinstance(streaming, dict)
    first_column, rows = streaming["Cells"]
    assert first_column == 2
    texts = {line: values for line, values in rows}
    assert texts[3] == ["Name", "Value", "", "After a gap"]
    assert texts[18][1] == "2024-05-01"
    assert texts[24][1] == "255:10:10"
    assert texts[25][1] == "2"
    assert texts[50] == ["ab", " kept ", "7", "", "true"]
    assert texts[51] == ["", "2024-05-01T10:00:00", "2024-05-02", "10:30:00"]


def test_a_large_workbook_is_streamed_and_a_small_one_goes_to_calamine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = with_cached_values(every_cell_type(tmp_path, False))
    monkeypatch.setattr(books, "STREAM_FROM_BYTES", 1)

    with open_table(str(path), sheet="Second") as table:
        streamed = (type(table._book), list(table.rows()))
    monkeypatch.setattr(books, "STREAM_FROM_BYTES", 1 << 40)
    with open_table(str(path), sheet="Second") as table:
        parsed = (type(table._book), list(table.rows()))

    assert streamed == (StreamingBook, [SourceRow(2, ["", "x", "5551234"])])
    assert parsed == (CalamineBook, streamed[1])


def write_tall_workbook(path: Path, rows: int) -> None:
    """A one-sheet workbook of `rows` rows of 10 inline-string and number cells, XML by hand."""
    members = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<Relationships><Relationship Id="rId1" Target="xl/workbook.xml" Type="http://'
            'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
            "</Relationships>"
        ),
        "xl/_rels/workbook.xml.rels": (
            '<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml" Type="http://'
            'schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            '<workbook xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships"><sheets><sheet name="Tall" sheetId="1" r:id="rId1"/></sheets>'
            "</workbook>"
        ),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(b"<worksheet><sheetData>")
            header = "".join(f'<c t="inlineStr"><is><t>Column {n}</t></is></c>' for n in range(10))
            sheet.write(f'<row r="1">{header}</row>'.encode())
            for start in range(2, rows + 2, 10_000):
                sheet.write(
                    "".join(
                        f'<row r="{r}"><c t="inlineStr"><is><t>person{r}@example.com</t></is></c>'
                        + f"<c><v>{r}</v></c>" * 9
                        + "</row>"
                        for r in range(start, min(start + 10_000, rows + 2))
                    ).encode()
                )
            sheet.write(b"</sheetData></worksheet>")


def test_streaming_a_large_sheet_holds_one_row_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "tall.xlsx"
    write_tall_workbook(path, 60_000)
    script = (
        "import resource, sys\n"
        "from app.imports.readers import books, spreadsheet\n"
        "books.STREAM_FROM_BYTES = 1\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        f"with spreadsheet.open_spreadsheet({str(path)!r}) as table:\n"
        "    count = sum(1 for _row in table.rows())\n"
        "grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
        "print(count, grown // 1024)\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )

    count, grown_mb = map(int, result.stdout.split())
    assert count == 60_000
    assert grown_mb < 25  # calamine grows by ~60 MB on this sheet
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0


def test_a_streamed_sheet_counts_its_rows_for_progress_without_reading_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows counted in the XML's bytes (across the 1 MB pieces it is read in), the header left
    out, and never by parsing the sheet: the import reads it once, not twice."""
    path = tmp_path / "tall.xlsx"
    write_tall_workbook(path, 25_000)  # about 6 MB of sheet XML: rows cross every piece's edge
    monkeypatch.setattr(books, "STREAM_FROM_BYTES", 1)
    with open_table(str(path)) as table:
        info = table.info

    def no_parsing(*args: object) -> object:
        raise AssertionError("the sheet was parsed to count its rows")

    monkeypatch.setattr(books.StreamingSheetRows, "rows", no_parsing)
    assert spreadsheet.progress_spreadsheet_rows(str(path), info) == 25_000
    monkeypatch.setattr(xlsx_stream, "COUNT_PIECE_BYTES", 3)  # every tag split between pieces
    small = tmp_path / "small.xlsx"
    write_tall_workbook(small, 40)
    assert spreadsheet.progress_spreadsheet_rows(str(small), info) == 40


def test_a_small_sheet_counts_its_rows_exactly_for_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tall.xlsx"
    write_tall_workbook(path, 1_000)
    monkeypatch.setattr(books, "STREAM_FROM_BYTES", 1 << 40)
    with open_table(str(path)) as table:
        info = table.info
    assert spreadsheet.progress_spreadsheet_rows(str(path), info) == 1_000


def test_reading_a_header_parses_only_the_strings_and_rows_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker reads a large sheet's header only (a child reads the rows): it parses the
    first piece of the sheet and the shared strings its cells point to, not the whole parts."""
    path = tmp_path / "shared.xlsx"
    write_tall_workbook(path, 0)  # the package's other parts; the sheet is replaced below
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    strings = ["Email", "Name", "Number"]
    cells = ['<row r="1">' + "".join(f'<c t="s"><v>{n}</v></c>' for n in range(3)) + "</row>"]
    for r in range(30_000):  # as Excel writes them: every text in the shared strings part
        strings += [f"person{r}@example.com", f"Person {r}"]
        cells.append(
            f'<row r="{r + 2}"><c t="s"><v>{3 + 2 * r}</v></c><c t="s"><v>{4 + 2 * r}</v></c>'
            f"<c><v>{r}</v></c></row>"
        )
    parts["xl/worksheets/sheet1.xml"] = (
        "<worksheet><sheetData>" + "".join(cells) + "</sheetData></worksheet>"
    ).encode()
    parts["xl/sharedStrings.xml"] = (
        "<sst>" + "".join(f"<si><t>{text}</t></si>" for text in strings) + "</sst>"
    ).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    fed: list[int] = []
    feed = xlsx_stream._SheetReader.feed

    def counted(self: xlsx_stream._SheetReader, data: bytes, *, final: bool) -> None:
        fed.append(len(data))
        feed(self, data, final=final)

    monkeypatch.setattr(xlsx_stream._SheetReader, "feed", counted)
    book = xlsx_stream.StreamingWorkbook(str(path))
    try:
        part = book.sheets[0].part
        assert (
            book.part_size(part) > 1_000_000 and book.part_size("xl/sharedStrings.xml") > 1_000_000
        )
        rows = book.rows(part)
        assert next(rows) == (1, 0, ["Email", "Name", "Number"])
        rows.close()
        assert sum(fed) <= xlsx_stream.FIRST_PIECE_BYTES
        strings = book._shared_strings().items
        assert 3 <= len(strings) < 5_000  # of the 60,003 the part holds
        # read on, every string is there when a cell needs it
        last = list(book.rows(part))[-1]
        assert last == (30_001, 0, ["person29999@example.com", "Person 29999", "29999"])
        assert len(strings) == 60_003
    finally:
        book.close()
