"""Export file writers: CSV, XLSX, JSON and NDJSON, each written row batch by row batch.

A writer is given the export's fields and then batches of text rows, one value per field as
the database rendered it (see `app.exports.fields`); it never holds more than one batch.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, BinaryIO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import case, func, literal
from sqlalchemy.sql.elements import ColumnElement

from app.cell_text import FORMULA_STARTS, PLAIN_NUMBER, SQL_PLAIN_NUMBER, neutralize
from app.exports.fields import LIST_SEPARATOR, ExportField, csv_row_maker, typed_row_maker

TextRow = list[str | None]

CONTENT_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "ndjson": "application/x-ndjson",
}
SUFFIXES = {"csv": ".csv", "xlsx": ".xlsx", "json": ".json", "ndjson": ".ndjson"}


def csv_cell_sql(column: ColumnElement[Any], field: ExportField) -> ColumnElement[Any]:
    """`column` (a field's text) as the CSV writer writes it, in PostgreSQL (COPY ... csv).

    Empty text becomes NULL (COPY would quote it), lists are joined with "; " and `neutralize`
    is applied, so the database's lines are byte for byte the ones CsvWriter makes. `column`
    should come from a subquery: it is named several times here but computed once there.
    """
    if field.kind in ("integer", "datetime"):
        return column
    if field.kind == "list":
        column = func.replace(column, LIST_SEPARATOR, "; ")
    risky = func.left(column, 1).in_(list(FORMULA_STARTS))
    return case(
        (
            risky,
            case(
                (column.regexp_match(SQL_PLAIN_NUMBER), column),
                else_=literal("'") + column,
            ),
        ),
        else_=func.nullif(column, ""),
    )


class ExportWriter(ABC):
    """Writes one export file to a binary stream."""

    def __init__(self, out: BinaryIO, fields: Sequence[ExportField]) -> None:
        """Write to `out` the columns `fields`, in that order."""
        self.out = out
        self.fields = list(fields)

    @abstractmethod
    def write_rows(self, rows: list[TextRow]) -> None:
        """Append a batch of rows."""

    @abstractmethod
    def close(self) -> None:
        """Finish the file (closing brackets, ZIP directory); `out` itself stays open."""

    def discard(self) -> None:  # noqa: B027 (most writers hold nothing to release)
        """Stop after a failure: release what the writer holds; the file is thrown away."""


class CsvWriter(ExportWriter):
    """RFC 4180 CSV in UTF-8: a header of labels, formula-like values neutralized."""

    def __init__(self, out: BinaryIO, fields: Sequence[ExportField], *, bom: bool = False) -> None:
        """With `bom`, start with a UTF-8 byte order mark so Excel reads the file as UTF-8."""
        super().__init__(out, fields)
        self._text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        if bom:
            self._text.write("\ufeff")
        self._csv = csv.writer(self._text)
        self._csv.writerow([neutralize(f.label) for f in self.fields])
        self._lists = csv_row_maker(self.fields)

    def write_rows(self, rows: list[TextRow]) -> None:
        """Write rows; list fields become "a; b"."""
        if self._lists is not None:
            rows = [self._lists(row) for row in rows]
        starts, number = FORMULA_STARTS, PLAIN_NUMBER
        self._csv.writerows(
            [
                [
                    "'" + value if value and value[0] in starts and not number(value) else value
                    for value in row
                ]
                for row in rows
            ]
        )

    def write_formatted(self, lines: list[bytes]) -> None:
        """Append CSV lines the database already wrote by the same rules (see `csv_cell_sql`)."""
        self._text.flush()
        self.out.write(b"".join(lines))

    def close(self) -> None:
        """Flush the text layer and hand the stream back."""
        self._text.flush()
        self._text.detach()


class JsonWriter(ExportWriter):
    """One JSON array of objects, streamed; or NDJSON, one object a line.

    Keys are field keys (`email`, `first_name`, `tags`...); custom fields sit in a
    `custom_fields` object under their own keys; tags and segments are lists; times are ISO 8601
    in UTC (`2025-01-31T09:30:00Z`), dates `2025-01-31`.
    """

    def __init__(
        self, out: BinaryIO, fields: Sequence[ExportField], *, lines: bool = False
    ) -> None:
        """With `lines`, write NDJSON instead of one array."""
        super().__init__(out, fields)
        self._lines = lines
        self._typed = typed_row_maker(self.fields)
        self._first = True
        self._custom = [(i, f.json_key) for i, f in enumerate(self.fields) if f.is_custom]
        self._standard = [(i, f.json_key) for i, f in enumerate(self.fields) if not f.is_custom]
        self._encode = json.JSONEncoder(ensure_ascii=False, default=_json_default).encode
        if not lines:
            self.out.write(b"[")

    def _record(self, values: list[Any]) -> dict[str, Any]:
        record = {key: values[i] for i, key in self._standard}
        if self._custom:
            record["custom_fields"] = {key: values[i] for i, key in self._custom}
        return record

    def write_rows(self, rows: list[TextRow]) -> None:
        """Write a batch of objects."""
        if not rows:
            return
        encoded = [self._encode(self._record(self._typed(row))) for row in rows]
        if self._lines:
            self.out.write(("\n".join(encoded) + "\n").encode("utf-8"))
            return
        lead = "\n" if self._first else ",\n"
        self._first = False
        self.out.write((lead + ",\n".join(encoded)).encode("utf-8"))

    def close(self) -> None:
        """Close the array."""
        if not self._lines:
            self.out.write(b"\n]\n" if not self._first else b"]\n")


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be written to JSON")


# --- XLSX ------------------------------------------------------------------------------------

SHEET_NAME = "Contacts"
SHEET_ENTRY = "xl/worksheets/sheet1.xml"
_EXCEL_EPOCH = date(1899, 12, 30).toordinal()
_EXACT_INTEGER = 10**15
"""Excel keeps 15 significant digits: larger whole numbers are written as text."""
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_XML_WORK = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|^\s|\s$")
_COLUMN_WIDTHS = {"email": 32, "company": 22, "phone": 18, "tags": 24, "segments": 24}


def excel_serial(value: date | datetime) -> float | int:
    """Days since Excel's epoch (1899-12-30), with the time of day as a fraction."""
    days = value.toordinal() - _EXCEL_EPOCH
    if isinstance(value, datetime):
        seconds = value.hour * 3600 + value.minute * 60 + value.second
        return days + seconds / 86400 if seconds else days
    return days


def _xml_text(value: str) -> str:
    """An inline-string cell body: escaped, illegal characters dropped, spaces kept."""
    if not _XML_WORK.search(value):
        return f"<is><t>{value}</t></is>"
    value = _ILLEGAL_XML.sub("", value)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if value != value.strip():
        return f'<is><t xml:space="preserve">{value}</t></is>'
    return f"<is><t>{value}</t></is>"


class XlsxWriter(ExportWriter):
    """One sheet `Contacts`: bold frozen header, real dates, text kept as text.

    openpyxl in write-only mode builds the workbook: package, styles (bold font, date formats,
    the quote prefix that keeps formula-like text as text when edited) and the header row.
    The data rows are serialized here straight into the sheet's XML inside the ZIP, because
    openpyxl's per-cell serializer manages about 2,500 rows/s, a tenth of what exports need;
    each value becomes the same cell XML openpyxl would write.
    """

    def __init__(self, out: BinaryIO, fields: Sequence[ExportField]) -> None:
        """Prepare the workbook and open the sheet's XML for streaming."""
        super().__init__(out, fields)
        self._typed = typed_row_maker(self.fields)
        self._letters = [get_column_letter(i + 1) for i in range(len(self.fields))]
        self._row = 1
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(SHEET_NAME)
        sheet.freeze_panes = "A2"
        for letter, field in zip(self._letters, self.fields, strict=True):
            sheet.column_dimensions[letter].width = _COLUMN_WIDTHS.get(field.key, 16)
        bold = Font(bold=True)
        header = []
        for field in self.fields:
            cell = WriteOnlyCell(sheet, value=field.label)
            cell.font = bold
            cell.data_type = "s"  # a label such as "=total" stays text
            header.append(cell)
        self._date_style = self._style_id(sheet, number_format="yyyy-mm-dd")
        self._datetime_style = self._style_id(sheet, number_format="yyyy-mm-dd hh:mm:ss")
        self._quoted_style = self._style_id(sheet, quote_prefix=True)
        sheet.append(header)
        package = io.BytesIO()
        workbook.save(package)

        self._zip = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        with zipfile.ZipFile(package) as template:
            for entry in template.infolist():
                if entry.filename != SHEET_ENTRY:
                    self._zip.writestr(entry.filename, template.read(entry.filename))
            sheet_xml = template.read(SHEET_ENTRY).decode("utf-8")
        head, _, tail = sheet_xml.partition("</sheetData>")
        self._tail = "</sheetData>" + tail
        self._sheet = self._zip.open(SHEET_ENTRY, "w", force_zip64=True)
        self._sheet.write(head.encode("utf-8"))

    @staticmethod
    def _style_id(sheet: Any, number_format: str | None = None, quote_prefix: bool = False) -> int:
        cell = WriteOnlyCell(sheet)
        if number_format:
            cell.number_format = number_format
        if quote_prefix:
            cell.quotePrefix = True
        return int(cell.style_id)

    def _cell(self, ref: str, value: Any) -> str:
        """The XML of one cell, or "" for an empty value."""
        kind = value.__class__
        if kind is str:
            if not value:
                return ""
            if value[0] in FORMULA_STARTS and not PLAIN_NUMBER(value):
                return f'<c r="{ref}" s="{self._quoted_style}" t="inlineStr">{_xml_text(value)}</c>'
            return f'<c r="{ref}" t="inlineStr">{_xml_text(value)}</c>'
        if kind is int:
            if -_EXACT_INTEGER < value < _EXACT_INTEGER:
                return f'<c r="{ref}"><v>{value}</v></c>'
            return f'<c r="{ref}" t="inlineStr">{_xml_text(str(value))}</c>'
        if kind is float:
            return f'<c r="{ref}"><v>{value!r}</v></c>'
        if kind is datetime:
            return f'<c r="{ref}" s="{self._datetime_style}"><v>{excel_serial(value)}</v></c>'
        if kind is date:
            return f'<c r="{ref}" s="{self._date_style}"><v>{excel_serial(value)}</v></c>'
        if kind is bool:
            return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
        if kind is list:
            return self._cell(ref, "; ".join(value)) if value else ""
        if value is None:
            return ""
        return self._cell(ref, str(value))

    def write_rows(self, rows: list[TextRow]) -> None:
        """Serialize a batch of rows into the sheet."""
        letters, typed, cell = self._letters, self._typed, self._cell
        parts = []
        number = self._row
        for row in rows:
            number += 1
            suffix = str(number)
            cells = "".join(
                [
                    cell(letter + suffix, value)
                    for letter, value in zip(letters, typed(row), strict=True)
                    if value is not None
                ]
            )
            parts.append(f'<row r="{suffix}">{cells}</row>')
        self._row = number
        self._sheet.write("".join(parts).encode("utf-8"))

    def close(self) -> None:
        """Close the sheet and write the ZIP directory."""
        self._sheet.write(self._tail.encode("utf-8"))
        self._sheet.close()
        self._zip.close()

    def discard(self) -> None:
        """Close the half-written ZIP so nothing complains about it later."""
        with contextlib.suppress(Exception):
            self._sheet.close()
        with contextlib.suppress(Exception):
            self._zip.close()


def make_writer(
    file_format: str, out: BinaryIO, fields: Sequence[ExportField], *, bom: bool = False
) -> ExportWriter:
    """The writer for `file_format` (csv, xlsx, json, ndjson)."""
    if file_format == "csv":
        return CsvWriter(out, fields, bom=bom)
    if file_format == "xlsx":
        return XlsxWriter(out, fields)
    if file_format in ("json", "ndjson"):
        return JsonWriter(out, fields, lines=file_format == "ndjson")
    raise ValueError(f"Unknown export format {file_format!r}: use csv, xlsx, json or ndjson.")
