"""Fuzzing the readers: whatever the bytes, the only exception is FileFormatError.

Random bytes, CSV-like text, ZIP containers that look more or less like workbooks, and JSON
values (whole, cut short or with a byte changed) go through everything an import does with a
file: detect its type, open it (as detected and as each type), read every row, count and
estimate the rows and take a preview. The examples are bounded so the whole module stays
under about half a minute.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import tempfile
import warnings
import zipfile
from pathlib import Path

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.imports.parsing import (
    FILE_TYPES,
    FileFormatError,
    count_data_rows,
    detect_file_type,
    estimate_data_rows,
    open_table,
    preview_rows,
)

FUZZ = settings(
    max_examples=500,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def read_everything(content: bytes, name: str) -> None:
    """Everything an import does with a file, as detected and forced to each type.

    Any exception but FileFormatError fails the test (it escapes this function).
    """
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / name)
        Path(path).write_bytes(content)
        detected = None
        with contextlib.suppress(FileFormatError):
            detected = detect_file_type(path, name)
        for file_type in {detected, *FILE_TYPES} - {None}:
            with contextlib.suppress(FileFormatError), open_table(path, file_type) as table:
                info = table.info
                for row in table.rows():
                    assert len(row.values) == len(table.headers)
                    assert all("\x00" not in value for value in row.values)
                assert all("\x00" not in header for header in table.headers)
                count_data_rows(path, info)
                estimate_data_rows(path, info)
                preview_rows(path, info, 3)


EXTENSIONS = st.sampled_from(["csv", "tsv", "txt", "xlsx", "json", "ndjson", "bin"])


# --- random bytes ------------------------------------------------------------------------------

MAGIC = st.sampled_from(
    [
        b"",
        b"PK\x03\x04",
        b"PK\x05\x06",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        codecs.BOM_UTF8,
        codecs.BOM_UTF16_LE,
        codecs.BOM_UTF16_BE,
        codecs.BOM_UTF32_LE,
        b"[",
        b"{",
        b'[{"a":',
        b"a,b\n",
        b'a;b\r\n"',
    ]
)


@FUZZ
@given(magic=MAGIC, body=st.binary(max_size=4096), extension=EXTENSIONS)
def test_random_bytes_raise_only_file_format_error(
    magic: bytes, body: bytes, extension: str
) -> None:
    read_everything(magic + body, f"upload.{extension}")


# --- CSV-like text -------------------------------------------------------------------------------

CELL_TEXT = st.text(
    alphabet=st.sampled_from(
        [*"ab1 ,;\t|\"'\r\n\\=@+-", "é", "€", "’", "\ufeff", "\x00", "\u202e", "\ud7ff", "😀"]
    ),
    max_size=12,
)
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252", "latin-1"])


@FUZZ
@given(
    rows=st.lists(st.lists(CELL_TEXT, max_size=6), max_size=12),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONE]),
    encoding=ENCODINGS,
    cut=st.integers(min_value=0, max_value=64),
    extension=EXTENSIONS,
)
def test_csv_like_text_raises_only_file_format_error(
    rows: list[list[str]],
    delimiter: str,
    quoting: int,
    encoding: str,
    cut: int,
    extension: str,
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, quoting=quoting, escapechar="\\")
    for row in rows:
        with contextlib.suppress(csv.Error):
            writer.writerow(row)
    content = buffer.getvalue().encode(encoding, "replace")
    if cut:
        content = content[:-cut]  # cut anywhere, even inside a quoted value or a character
    read_everything(content, f"contacts.{extension}")


# --- ZIP containers that look more or less like workbooks -----------------------------------------


def workbook_parts() -> dict[str, bytes]:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Email", "Name", "Joined"])
    sheet.append(["ada@example.com", "Ada", 45000.5])
    sheet.append(["bob@example.com", None, True])
    buffer = io.BytesIO()
    book.save(buffer)
    with zipfile.ZipFile(buffer) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


PARTS = workbook_parts()
XML_SNIPPETS = st.sampled_from(
    [
        b"",
        b"<",
        b"</sheetData>",
        b'<row r="0"><c r="A0" t="s"><v>99999</v></c></row>',
        b'<c r="XFD1048577"><v>1</v></c>',
        b'<c t="e"><v>#REF!</v></c>',
        b'<c t="d"><v>not a date</v></c>',
        b"<v>1e400</v>",
        b"&amp;&lt;&#0;&#xD800;_x0000_",
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>&e;',
        b'<sheet name="" sheetId="1" r:id="rId99"/>',
        b"\xff\xfe\x00",
    ]
)


@st.composite
def workbook_like_zips(draw: st.DrawFn) -> bytes:
    """A real workbook's parts, some left out, changed, cut or replaced, in a fresh ZIP."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in PARTS.items():
            action = draw(st.sampled_from(["keep", "keep", "drop", "insert", "cut", "flip", "far"]))
            if action == "drop":
                continue
            if action == "far":  # a cell anywhere on the sheet's grid, up to XFD1048576
                row = draw(st.integers(1, 1_048_576))
                ref = draw(st.sampled_from(["A", "Z", "ZZ", "AAA", "XFD", ""])) + str(row)
                far = f'<row r="{row}"><c r="{ref}"><v>1</v></c></row>'.encode()
                content = content.replace(b"</sheetData>", far + b"</sheetData>")
            if action == "insert":
                at = draw(st.integers(0, len(content)))
                content = content[:at] + draw(XML_SNIPPETS) + content[at:]
            elif action == "cut":
                content = content[: draw(st.integers(0, len(content)))]
            elif action == "flip" and content:
                at = draw(st.integers(0, len(content) - 1))
                content = content[:at] + bytes([draw(st.integers(0, 255))]) + content[at + 1 :]
            method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
            archive.writestr(name, content, compress_type=method)
        extra = draw(st.lists(st.sampled_from([*PARTS, "xl/sharedStrings.xml"]), max_size=2))
        for name in extra:  # a second part of the same name, or a stray one
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # zipfile warns about a duplicate name
                archive.writestr(
                    name + draw(st.sampled_from(["", "x"])), draw(st.binary(max_size=64))
                )
    data = buffer.getvalue()
    cut = draw(st.integers(0, 16))
    return data[: len(data) - cut] if cut else data


@FUZZ
@given(content=workbook_like_zips(), extension=st.sampled_from(["xlsx", "csv", "zip"]))
def test_workbook_like_zip_files_raise_only_file_format_error(
    content: bytes, extension: str
) -> None:
    read_everything(content, f"book.{extension}")


# --- JSON --------------------------------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
RECORDS = st.lists(
    st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5) | JSON_VALUES, max_size=6
)


@FUZZ
@given(
    records=RECORDS,
    lines=st.booleans(),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]),
    damage=st.one_of(st.none(), st.tuples(st.integers(min_value=0), st.binary(max_size=3))),
    extension=st.sampled_from(["json", "ndjson", "csv", "txt"]),
)
def test_json_and_ndjson_raise_only_file_format_error(
    records: list[object],
    lines: bool,
    encoding: str,
    damage: tuple[int, bytes] | None,
    extension: str,
) -> None:
    if lines:
        text = "\n".join(json.dumps(record) for record in records) + "\n"
    else:
        text = json.dumps(records, ensure_ascii=False)
    content = text.encode(encoding)
    if damage is not None and content:
        at = damage[0] % len(content)
        content = content[:at] + damage[1] + content[at + 1 :]  # replace, insert or cut a byte
    read_everything(content, f"records.{extension}")
