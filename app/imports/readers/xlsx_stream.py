"""Stream an XLSX worksheet's rows straight from its XML, one row in memory at a time.

python-calamine builds a whole worksheet before giving its first row (1 GB for a 1M-row,
10-column sheet). This reader feeds the sheet XML to expat in 1 MB pieces and yields each row
as text once its last cell is read. It follows calamine's rules for reading cells, so a
workbook gives the same rows through either reader: a cell's `r` places it (else it follows
the previous cell, and a row without `r` follows the previous row), cells without a value are
left out, a cell's last child decides its value, shared and inline strings are trimmed of
XML whitespace unless `xml:space="preserve"` and `_x000D_`-style escapes are decoded, number
cells styled as dates become dates. The shared strings are held as one list of str.

The package's small parts (relationships, workbook, styles) are read whole (`xlsx_parts`);
every part goes through a parser that refuses entity declarations, so nothing is expanded or
fetched.
"""

from __future__ import annotations

import datetime
import re
import zipfile
from collections.abc import Iterator
from typing import Any
from xml.parsers import expat

from app.imports.readers.cell_text import (
    bool_text,
    cell_text,
    float_text,
    serial_value,
)
from app.imports.readers.xlsx_parts import (
    DURATION,
    WorkbookDamaged,
    date_styles,
    local_name,
    office_document_folder,
    relationships,
    safe_parser,
    style_key,
    unescape_text,
    workbook_sheets,
)

CHUNK_BYTES = 1 << 20
FIRST_PIECE_BYTES = 1 << 16

_REFERENCE = re.compile(r"([A-Za-z]*)([0-9]+)")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


COUNT_PIECE_BYTES = 1 << 20
"""How much of a worksheet `row_elements` reads at a time."""


class StreamingWorkbook:
    """An open XLSX package: its sheets, date system, date styles and (on demand) strings."""

    def __init__(self, path: str) -> None:
        try:
            self._archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise WorkbookDamaged from exc
        self._names = {name.replace("\\", "/").lower(): name for name in self._archive.namelist()}
        self._strings: _SharedStrings | None = None
        try:
            base = office_document_folder(self._read("_rels/.rels"))
            self.sheets, self.date_1904 = workbook_sheets(
                self._read(base + "workbook.xml", missing=b""),
                relationships(self._read(base + "_rels/workbook.xml.rels")),
                base,
            )
            self._base = base
            self._styles = date_styles(self._read(base + "styles.xml", missing=b""))
        except BaseException:
            self._archive.close()
            raise

    def close(self) -> None:
        """Close the package file."""
        if self._strings is not None:
            self._strings.close()
        self._archive.close()

    def rows(self, part: str) -> Iterator[tuple[int, int, list[str]]]:
        """(row number, first filled column, text of every column from A) of each row with cells.

        Rows no cell reaches are left out; a cell holding an empty string counts as there.
        """
        member = self._member(part)
        if member is None:
            raise WorkbookDamaged(part)
        strings = self._shared_strings()
        reader = _SheetReader(strings, self._styles, self.date_1904)
        try:
            with self._archive.open(member) as stream:
                size = FIRST_PIECE_BYTES  # a header is read without parsing a megabyte of rows
                while piece := stream.read(size):
                    reader.feed(piece, final=False)
                    yield from reader.take()
                    size = CHUNK_BYTES
            reader.feed(b"", final=True)
        except (expat.ExpatError, zipfile.BadZipFile, EOFError, ValueError) as exc:
            raise WorkbookDamaged(part) from exc
        yield from reader.take()

    def part_size(self, part: str) -> int:
        """A part's unpacked size in bytes (0 when the package lacks it)."""
        member = self._member(part)
        return 0 if member is None else self._archive.getinfo(member).file_size

    def row_elements(self, part: str) -> int:
        """How many `<row>` elements a worksheet holds, counted in its bytes (C speed, no parse).

        A row that holds only formatting counts too, and a namespace-prefixed sheet counts 0:
        an estimate for a progress bar, never a result.
        """
        member = self._member(part)
        if member is None:
            return 0
        count, carry = 0, b""
        with self._archive.open(member) as stream:
            while piece := stream.read(COUNT_PIECE_BYTES):
                data = carry + piece
                count += data.count(b"<row ") + data.count(b"<row>")
                carry = data[-5:]  # a tag split between pieces is counted in the next one
                count -= carry.count(b"<row ") + carry.count(b"<row>")
        return count + carry.count(b"<row ") + carry.count(b"<row>")

    def dimension_rows(self, part: str) -> tuple[int, int] | None:
        """The first and last row of the sheet's `<dimension ref="A1:J100">`, if it states one."""
        member = self._member(part)
        if member is None:
            return None
        with self._archive.open(member) as stream:
            head = stream.read(64 << 10).decode("utf-8", "replace")
        found = re.search(r"<(?:\w+:)?dimension\s+ref=\"[A-Z]*([0-9]+)(?::[A-Z]*([0-9]+))?\"", head)
        if not found:
            return None
        first = int(found.group(1))
        return first, int(found.group(2) or first)

    def _shared_strings(self) -> _SharedStrings:
        """The shared strings, read as far as the cells read so far need."""
        if self._strings is None:
            member = self._member(self._base + "sharedStrings.xml")
            self._strings = _SharedStrings(self._archive, member)
        return self._strings

    def _member(self, name: str) -> str | None:
        """The package's name for a part, found as calamine does (any case, either slash)."""
        return self._names.get(name.lower())

    def _read(self, name: str, missing: bytes | None = None) -> bytes:
        """A small part's bytes; `missing` stands in for an absent part (else it is damage)."""
        member = self._member(name)
        if member is None:
            if missing is None:
                raise WorkbookDamaged(name)
            return missing
        try:
            return self._archive.read(member)
        except (zipfile.BadZipFile, EOFError, ValueError) as exc:
            raise WorkbookDamaged(name) from exc


class _StringReader:
    """Collects one string (`<si>` or `<is>`): its `<t>` texts outside phonetic runs, joined."""

    __slots__ = ("parts", "phonetic", "preserve", "text")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.text: list[str] | None = None
        self.preserve = False
        self.phonetic = False

    def start(self, tag: str, attributes: dict[str, str]) -> None:
        if tag == "t" and not self.phonetic:
            self.text = []
            self.preserve = attributes.get("xml:space") == "preserve"
        elif tag == "rPh":
            self.phonetic = True

    def end(self, tag: str) -> None:
        if tag == "t" and self.text is not None:
            self.parts.append(unescape_text("".join(self.text), self.preserve))
            self.text = None
        elif tag == "rPh":
            self.phonetic = False

    def value(self) -> str:
        return "".join(self.parts)


class _SharedStrings:
    """The `<si>` of the shared strings part, in order, parsed only as far as a cell needs.

    Reading a header (the worker's only read of a large sheet) needs the first few strings,
    not the whole part: on a 100,000-row sheet that was most of a second.
    """

    def __init__(self, archive: zipfile.ZipFile, member: str | None) -> None:
        self.items: list[str] = []
        self._member = member or ""
        self._stream: Any = None if member is None else archive.open(member)
        self._current: _StringReader | None = None
        self._piece = FIRST_PIECE_BYTES  # doubled per read: a header needs the first strings
        self._parser = parser = safe_parser()
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._characters

    def reach(self, index: int) -> bool:
        """Parse on until string `index` is read; False when the part holds no such string."""
        try:
            while len(self.items) <= index and self._stream is not None:
                piece = self._stream.read(self._piece)
                self._piece = min(self._piece * 2, CHUNK_BYTES)
                self._parser.Parse(piece, not piece)
                if not piece:
                    self.close()
        except (expat.ExpatError, zipfile.BadZipFile, EOFError, ValueError) as exc:
            self.close()
            raise WorkbookDamaged(self._member) from exc
        return index < len(self.items)

    def close(self) -> None:
        """Stop reading the part (the strings read so far stay)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        tag = local_name(name)
        if self._current is not None:
            self._current.start(tag, attributes)
        elif tag == "si":
            self._current = _StringReader()

    def _end(self, name: str) -> None:
        if self._current is None:
            return
        tag = local_name(name)
        if tag == "si":
            self.items.append(self._current.value())
            self._current = None
        else:
            self._current.end(tag)

    def _characters(self, data: str) -> None:
        if self._current is not None and self._current.text is not None:
            self._current.text.append(data)


def reference(text: str) -> tuple[int, int | None]:
    """0-based (row, column) of an `A1` reference; the column is None for a bare row number."""
    found = _REFERENCE.fullmatch(text)
    if not found or int(found.group(2)) < 1:
        raise WorkbookDamaged(f"reference {text[:20]!r}")
    letters, digits = found.groups()
    column = 0
    for letter in letters.upper():
        column = column * 26 + ord(letter) - 64
    return int(digits) - 1, column - 1 if letters else None


def iso_text(value: str) -> str:
    """A `t="d"` cell (ISO 8601 text) as python-calamine gives it: parsed when valid, else as is."""
    try:
        if "T" in value:
            return cell_text(datetime.datetime.fromisoformat(value))
        if ":" in value:
            return datetime.time.fromisoformat(value).isoformat()
        if _ISO_DATE.fullmatch(value):
            return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    return value


class _SheetReader:
    """expat handlers for a worksheet: turns `<row>`/`<c>` events into finished rows of text."""

    def __init__(self, strings: _SharedStrings, styles: dict[str, str], date_1904: bool) -> None:
        self._strings = strings.items  # grows in place as `_more` reads on
        self._more = strings.reach
        self._styles = styles
        self._date_1904 = date_1904
        self._parser = parser = safe_parser()
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._characters
        self._locals: dict[str, str] = {}
        self._done: list[tuple[int, int, list[str]]] = []
        self._in_data = False
        self._row_index = self._column_index = 0
        # the cell being read
        self._in_cell = False
        self._cell_ref: str | None = None
        self._style: str | None = None
        self._kind: str | None = None
        self._value: str | None = None
        self._child: str | None = None
        self._text: list[str] | None = None
        self._string: _StringReader | None = None
        # the row being built
        self._line = -1
        self._first = 0
        self._values: list[str] = []

    def feed(self, data: bytes, *, final: bool) -> None:
        self._parser.Parse(data, final)
        if final and self._line >= 0:
            self._flush()

    def take(self) -> list[tuple[int, int, list[str]]]:
        done, self._done = self._done, []
        return done

    def _tag(self, name: str) -> str:
        tag = self._locals.get(name)
        if tag is None:
            tag = self._locals[name] = local_name(name)
        return tag

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        tag = self._tag(name)
        if self._in_cell:
            if self._child is None:
                self._child = tag
                if tag == "v":
                    self._text = []
                elif tag == "is":
                    self._string = _StringReader()
                elif tag != "f":
                    raise WorkbookDamaged(f"unexpected <{tag}> in a cell")
            elif self._string is not None:
                self._string.start(tag, attributes)
        elif not self._in_data:
            self._in_data = tag == "sheetData"
        elif tag == "c":
            self._in_cell = True
            self._cell_ref = attributes.get("r")
            self._style = attributes.get("s")
            self._kind = attributes.get("t")
            self._value = None
        elif tag == "row":
            row = attributes.get("r")
            if row is not None:
                self._row_index = reference(row)[0]

    def _end(self, name: str) -> None:
        if not self._in_data:
            return
        tag = self._tag(name)
        if self._in_cell:
            if self._child is None:
                if tag == "c":
                    self._end_cell()
            elif self._string is not None and tag != self._child:
                self._string.end(tag)
            elif tag == self._child:
                self._value = self._child_value(tag)
                self._child = self._text = self._string = None
        elif tag == "row":
            self._row_index += 1
            self._column_index = 0
        elif tag == "sheetData":
            self._in_data = False

    def _characters(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)
        elif self._string is not None and self._string.text is not None:
            self._string.text.append(data)

    def _child_value(self, tag: str) -> str | None:
        """The value a finished child of `<c>` gives the cell (None: no value)."""
        if tag == "is" and self._string is not None:
            return self._string.value()
        if tag != "v" or self._text is None:
            return None
        raw = "".join(self._text)
        kind = self._kind
        if kind is None or kind == "n":
            if not raw:
                return None
            return self._number_text(raw, kind)
        if kind == "s":
            if not raw:
                return None
            index = int(raw) if raw.isascii() and raw.isdigit() else 0
            if index >= len(self._strings) and not self._more(index):
                raise WorkbookDamaged("shared string index")
            return self._strings[index]
        if kind == "str":
            return raw
        if kind in ("inlineStr", "is"):
            return None
        if kind == "b":
            return bool_text(raw != "0") if raw else None
        if kind == "e":
            return "" if raw else None
        if kind == "d":
            return iso_text(raw)
        raise WorkbookDamaged(f"cell type {kind[:20]!r}")

    def _number_text(self, raw: str, kind: str | None) -> str:
        """A number cell's text: a date or duration when its style is one, else the number."""
        try:
            if "_" in raw or not raw.isascii() or raw.strip() != raw:
                raise ValueError(raw)
            number = float(raw)
        except ValueError:
            if kind is None:
                return raw
            raise WorkbookDamaged("number") from None
        style = self._style
        if style is None:
            return float_text(number)
        date_kind = self._styles.get(style)
        if date_kind is None and (key := style_key(style)) != style:
            date_kind = self._styles.get(key)
        if date_kind is None:
            return float_text(number)
        return cell_text(serial_value(number, date_kind == DURATION, self._date_1904))

    def _end_cell(self) -> None:
        """Place the finished cell: by its `r`, else after the previous cell of the row."""
        self._in_cell = False
        if self._cell_ref is not None:
            row, column = reference(self._cell_ref)
            if column is None:
                raise WorkbookDamaged("cell reference without a column")
        else:
            row, column = self._row_index, self._column_index
        self._column_index = column + 1
        value = self._value
        if value is None:
            return
        if row != self._line:
            if row < self._line:
                raise WorkbookDamaged("rows out of order")
            if self._line >= 0:
                self._flush()
            self._line, self._first, self._values = row, column, []
        values = self._values
        if column >= len(values):
            values.extend([""] * (column + 1 - len(values)))
        values[column] = value
        if column < self._first:
            self._first = column

    def _flush(self) -> None:
        self._done.append((self._line + 1, self._first, self._values))
        self._line = -1
