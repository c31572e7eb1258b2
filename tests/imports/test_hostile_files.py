"""Hostile and broken files, read by the readers and run through the import engine.

Every refusal is one sentence a marketer can act on (the row or column where it applies, and
what to do), comes quickly without reading the whole of a huge file into memory, and leaves no
half-written import behind: a job that fails part-way says `failed`, keeps its message and can
be rolled back to nothing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import struct
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import pytest
from flask import Flask
from openpyxl.workbook import Workbook
from sqlalchemy import func, select

from app.extensions import db
from app.imports.importing import run_import
from app.imports.options import ImportOptions
from app.imports.parsing import FileFormatError, detect_file_type, open_table
from app.imports.rollback_job import run_rollback, start_rollback
from app.imports.service import create_import_job, store_upload
from app.models import Contact, ImportEvent, ImportJob, Tenant
from tests.imports.conftest import csv_bytes, new_job, snapshot

MEGABYTE = 1 << 20
GIGABYTE = 1 << 30


def read_file(path: Path) -> list[list[str]]:
    """Detect, open and read a file to its end as an import would; return the row values."""
    file_type = detect_file_type(str(path), path.name)
    with open_table(str(path), file_type) as table:
        return [row.values for row in table.rows()]


def refusal(path: Path) -> str:
    """The message a file is refused with; fails the test if it reads."""
    with pytest.raises(FileFormatError) as raised:
        read_file(path)
    return str(raised.value)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- files that are not what their name says, or hold nothing ------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 64
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + os.urandom(4096)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("photo.csv", PNG, "This doesn't look like a text file (it contains binary data)"),
        ("program.csv", ELF, "This doesn't look like a text file (it contains binary data)"),
        ("photo.xlsx", PNG, "This file is not a valid Excel workbook"),
        ("program.xlsx", ELF, "This file is not a valid Excel workbook"),
        ("notes.xlsx", b"Email\nada@example.com\n", "This file is not a valid Excel workbook"),
        ("photo.json", PNG, "This doesn't look like a text file (it contains binary data)"),
        ("empty.csv", b"", "The file is empty: it has no header row"),
        ("empty.xlsx", b"", "The file is empty: it has no header row"),
        ("empty.json", b"", "The file is empty: it has no header row"),
        ("blank.csv", b" \r\n\t\n\n", "The file is empty: it has no header row"),
        ("empty-list.json", b"[]", "The file is empty: the JSON list has no records"),
    ],
)
def test_binary_or_empty_file_is_refused_with_a_sentence(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    assert refusal(path).startswith(message)


def test_header_only_file_reads_no_rows_and_imports_nothing(
    app: Flask, tenant: Tenant, tmp_path: Path
) -> None:
    path = tmp_path / "header.csv"
    path.write_bytes(b"Email,First\r\n")
    assert read_file(path) == []

    job = run_import(new_job(tenant, path.read_bytes(), mapping={"Email": "email"}).id)

    assert (job.status, job.total_rows, job.created_count) == ("completed", 0, 0)
    assert db.session.scalar(select(func.count(Contact.id))) == 0


# --- 10,000 columns --------------------------------------------------------------------------------

WIDE = 10_000
WIDE_MESSAGE = "The file has 10,000 columns; the limit is 500: remove the columns you don't need"
WIDE_JSON_MESSAGE = "The JSON records have more than 500 different fields, the most one import"


def wide_workbook(path: Path) -> None:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Wide")
    sheet.append([f"c{i}" for i in range(WIDE)])
    sheet.append(["x"] * WIDE)
    book.save(path)


def wide_records(path: Path, lines: bool) -> None:
    record = {f"c{i}": 1 for i in range(WIDE)}
    path.write_text(json.dumps(record) + "\n" if lines else json.dumps([record]))


@pytest.mark.parametrize(
    ("name", "write", "message"),
    [
        (
            "wide.csv",
            lambda p: p.write_text(",".join(f"c{i}" for i in range(WIDE)) + "\n1\n"),
            WIDE_MESSAGE,
        ),
        ("wide.xlsx", wide_workbook, WIDE_MESSAGE),
        ("wide.json", lambda p: wide_records(p, lines=False), WIDE_JSON_MESSAGE),
        ("wide.ndjson", lambda p: wide_records(p, lines=True), WIDE_JSON_MESSAGE),
    ],
)
def test_ten_thousand_columns_are_refused_naming_the_limit(
    tmp_path: Path, name: str, write: Callable[[Path], object], message: str
) -> None:
    path = tmp_path / name
    write(path)

    assert refusal(path).startswith(message)


# --- a 100 MB single line ----------------------------------------------------------------------------


def write_long_line(path: Path, head: bytes, tail: bytes, megabytes: int = 100) -> None:
    """Write head, then `megabytes` MB of one unbroken value, then tail, a megabyte at a time."""
    chunk = b"x" * MEGABYTE
    with path.open("wb") as out:
        out.write(head)
        for _ in range(megabytes):
            out.write(chunk)
        out.write(tail)


@pytest.mark.parametrize(
    ("name", "head", "tail", "message"),
    [
        ("line.csv", b"Email,Notes\nada@example.com,", b"\n", "Row 2 is longer than 16,385,500"),
        ("header.csv", b"", b"", "Row 1 is longer than 16,385,500 characters"),
        ("quote.csv", b'Email,Notes\na@b.co,"', b'"\n', "Row 2 is longer than 16,385,500"),
        ("line.json", b'[{"email": "a@b.co", "notes": "', b'"}]', "Record 1 holds a single value"),
        ("line.ndjson", b'{"email": "a@b.co", "notes": "', b'"}\n', "Line 1 of the file is longer"),
    ],
)
def test_a_100_mb_single_line_is_refused_while_streaming(
    tmp_path: Path, name: str, head: bytes, tail: bytes, message: str
) -> None:
    path = tmp_path / name
    write_long_line(path, head, tail)
    started = time.monotonic()
    tracemalloc.start()
    try:
        text = refusal(path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert text.startswith(message)
    assert "upload it again" in text
    assert peak < 80 * MEGABYTE  # never the whole line: the reader stops at its limit
    assert time.monotonic() - started < 10


def test_an_import_of_a_100_mb_line_fails_with_the_message_and_writes_nothing(
    app: Flask, tenant: Tenant, tmp_path: Path
) -> None:
    path = tmp_path / "line.csv"
    write_long_line(path, b"Email,Notes\nada@example.com,", b"\n")

    job = import_file(tenant, path)

    assert_failed_writing_nothing(job, "Row 2 is longer than 16,385,500 characters")


def import_file(tenant: Tenant, path: Path) -> ImportJob:
    """Stream a file into storage (never into memory) and import it, Email mapped."""
    with path.open("rb") as stream:
        key, size = store_upload(tenant.id, stream, path.name)
    options = ImportOptions(file_name=path.name, file_key=key, field_mapping={"Email": "email"})
    return run_import(create_import_job(tenant.id, options, file_size=size).id)


def assert_failed_writing_nothing(job: ImportJob, message: str) -> None:
    """The job failed with `message` and not one contact or journal event was written."""
    assert job.status == "failed"
    assert job.failure_message.startswith(message)
    assert db.session.scalar(select(func.count(Contact.id))) == 0
    assert db.session.scalar(select(func.count(ImportEvent.id))) == 0


# --- encodings: invalid UTF-8 in the middle, a file that switches encoding ---------------------------

FILLER_ROWS = 4_000  # 100 KB: past the first 64 KB, which the encoding is detected from


def import_after_filler(tenant: Tenant, encoding: str, last_rows: bytes) -> ImportJob:
    """Import FILLER_ROWS good rows in `encoding`, then `last_rows`, in batches of 1,000."""
    rows = "".join(f"p{i}@example.com,Renée\n" for i in range(FILLER_ROWS)).encode(encoding)
    content = b"Email,First\n" + rows + last_rows
    job = new_job(tenant, content, mapping={"Email": "email", "First": "first_name"})
    return run_import(job.id, batch_size=1000)


def test_invalid_utf8_in_the_middle_fails_the_import_naming_the_row_before_writing(
    app: Flask, tenant: Tenant
) -> None:
    job = import_after_filler(tenant, "utf-8", b"bad@example.com,Ren\xe9e\n")

    assert job.status == "failed"
    assert job.failure_message == (
        f"The file is not valid UTF-8 text (the problem starts at row {FILLER_ROWS + 2:,}): "
        "re-save it as UTF-8 (in Excel: Save As > CSV UTF-8) and upload it again, or choose "
        "its encoding."
    )
    assert db.session.scalar(select(func.count(Contact.id))) == 0
    assert db.session.scalar(select(func.count(ImportEvent.id))) == 0


def test_a_quote_left_open_fails_the_import_naming_the_row_before_writing(
    app: Flask, tenant: Tenant
) -> None:
    """An import given no row count (the API's) counts the rows first: a file whose quote
    never closes is refused then, not after its first batches went in."""
    rest = "".join(f"q{i}@example.com,Ann\n" for i in range(20_000)).encode()
    job = import_after_filler(tenant, "utf-8", b'open@example.com,"Ren\n' + rest)

    assert job.status == "failed"
    assert f"Row {FILLER_ROWS + 2:,} has a value longer than" in (job.failure_message or "")
    assert "were imported" not in (job.failure_message or "")
    assert db.session.scalar(select(func.count(Contact.id))) == 0


def test_a_file_switching_from_windows_1252_to_utf8_refuses_the_utf8_rows(
    app: Flask, tenant: Tenant
) -> None:
    switched = "cafe@example.com,Café\nquote@example.com,Don’t\n".encode()
    job = import_after_filler(tenant, "cp1252", switched + b"last@example.com,Ren\xe9e\n")

    assert job.status == "completed"
    assert (job.created_count, job.error_count) == (FILLER_ROWS + 1, 2)
    first_error = job.errors[0]
    assert first_error["row"] == FILLER_ROWS + 2
    assert first_error["message"] == (
        f'Row {FILLER_ROWS + 2}: the value in column "First" ("Café") is UTF-8 text, but the '
        "rows above it are Windows-1252: the file mixes two text encodings. Re-save the whole "
        "file as UTF-8 (in Excel: Save As > CSV UTF-8) and upload it again."
    )
    names = dict(db.session.execute(select(Contact.email, Contact.first_name)).all())
    assert names["last@example.com"] == "Renée"
    assert "cafe@example.com" not in names  # never stored as "CafÃ©"
    assert set(names.values()) == {"Renée"}


def test_a_windows_1252_value_that_happens_to_be_valid_utf8_is_not_flagged(tmp_path: Path) -> None:
    path = tmp_path / "caps.csv"
    path.write_bytes("Email,Company\na@b.co,CAFÉ–BAR\nb@b.co,Renée\n".encode("cp1252"))

    with open_table(str(path)) as table:
        rows = list(table.rows())

    assert [(row.values[1], row.error) for row in rows] == [("CAFÉ–BAR", None), ("Renée", None)]


# --- binary data (NUL) inside otherwise good files ----------------------------------------------------


def test_a_nul_character_deep_in_a_csv_is_a_row_error_not_a_failed_import(
    app: Flask, tenant: Tenant
) -> None:
    job = import_after_filler(tenant, "utf-8", b"nul@example.com,Ren\x00ee\n")

    assert job.status == "completed"
    assert (job.created_count, job.error_count) == (FILLER_ROWS, 1)
    assert job.errors[0]["message"].startswith(
        f'Row {FILLER_ROWS + 2}: the value in column "First" contains binary data (a NUL '
        "character), which cannot be stored"
    )
    assert job.error_report_key


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("nul.json", b'[{"email": "a@b.co", "first": "Ren\\u0000ee", "bad\\u0000key": 1}]'),
        ("nul.ndjson", b'{"email": "a@b.co", "first": "Ren\\u0000ee", "bad\\u0000key": 1}\n'),
    ],
)
def test_json_nul_escapes_are_dropped_from_names_and_refused_in_values(
    tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    with open_table(str(path)) as table:
        headers, rows = table.headers, list(table.rows())

    assert headers == ["email", "first", "badkey"]
    assert rows[0].values == ["a@b.co", "Renee", "1"]
    assert rows[0].error and "contains binary data (a NUL character)" in rows[0].error


# --- XLSX: zip bombs, entity expansion and external entities -------------------------------------------


def workbook_members() -> dict[str, bytes]:
    """The parts of a small real workbook (header Email, Name; one contact)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "People"
    sheet.append(["Email", "Name"])
    sheet.append(["ada@example.com", "Ada"])
    buffer = io.BytesIO()
    book.save(buffer)
    with zipfile.ZipFile(buffer) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


SHEET = "xl/worksheets/sheet1.xml"


def write_zip(path: Path, members: list[tuple[str, bytes, int, int]]) -> None:
    """Write a ZIP by hand from (name, raw deflate data, declared size, CRC-32) members.

    zipfile would have to compress every byte of a bomb; here its deflate stream is made of one
    compressed block repeated, so a multi-gigabyte member costs a few megabytes and no time.
    """
    central = b""
    with path.open("wb") as out:
        for name, data, size, crc in members:
            offset = out.tell()
            encoded = name.encode()
            sizes = (crc, len(data), size, len(encoded))
            out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, *sizes, 0))
            out.write(encoded + data)
            central += struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                8,
                0,
                0x21,
                *sizes,
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            central += encoded
        start = out.tell()
        out.write(central)
        count = len(members)
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), start, 0))


def deflated(data: bytes) -> tuple[bytes, int, int]:
    """Raw deflate data, size and CRC-32 of `data`."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush(), len(data), zlib.crc32(data)


def bomb_sheet(expanded: int) -> tuple[bytes, int, int]:
    """A sheet whose XML is `expanded` bytes (rows of one cell), as raw deflate data."""
    head, _, tail = workbook_members()[SHEET].partition(b"</sheetData>")
    block = b'<row><c t="inlineStr"><is><t>x@example.com</t></is></c></row>' * 16_000
    repeats = (expanded - len(head) - len(tail) - 12) // len(block)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = packer.compress(head) + packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    end = packer.compress(b"</sheetData>" + tail) + packer.flush()
    crc = zlib.crc32(head)
    for _ in range(repeats + 1):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(b"</sheetData>" + tail, crc)
    size = len(head) + len(block) * (repeats + 1) + len(b"</sheetData>" + tail)
    return first + again * repeats + end, size, crc


def bomb_workbook(path: Path, declared: Callable[[int], int]) -> int:
    """A workbook whose sheet expands to ~2 GB; `declared` picks the size its ZIP headers state."""
    data, size, crc = bomb_sheet(2 * GIGABYTE)
    members = []
    for name, content in workbook_members().items():
        if name == SHEET:
            members.append((name, data, declared(size), crc))
        else:
            members.append((name, *deflated(content)))
    write_zip(path, members)
    return size


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An honest zip bomb: a 2 GB sheet in a file of a few megabytes, sizes stated truly."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.xlsx"
    bomb_workbook(path, lambda size: size)
    yield path


def test_a_zip_bomb_workbook_is_refused_on_its_stated_size_without_unpacking(
    zip_bomb: Path,
) -> None:
    with zipfile.ZipFile(zip_bomb) as archive:
        assert archive.getinfo(SHEET).file_size > 2 * 10**9
    assert zip_bomb.stat().st_size < 10 * MEGABYTE
    started, memory = time.monotonic(), peak_rss_mb()

    message = refusal(zip_bomb)

    assert message.startswith("This workbook looks damaged or unsafe (it unpacks to far more")
    assert message.endswith("open it in Excel, save it again and upload it again.")
    assert time.monotonic() - started < 2
    assert peak_rss_mb() - memory < 100


def test_a_zip_bomb_that_lies_about_its_size_stops_at_the_stated_size(tmp_path: Path) -> None:
    path = tmp_path / "liar.xlsx"
    bomb_workbook(path, lambda _size: 5 * MEGABYTE)
    started, memory = time.monotonic(), peak_rss_mb()

    message = refusal(path)

    assert message.startswith("This file is not a valid Excel workbook")  # its CRC fails
    assert time.monotonic() - started < 5
    assert peak_rss_mb() - memory < 200


def test_the_import_of_a_zip_bomb_fails_with_the_message_and_writes_nothing(
    app: Flask, tenant: Tenant, zip_bomb: Path
) -> None:
    job = import_file(tenant, zip_bomb)

    assert_failed_writing_nothing(job, "This workbook looks damaged or unsafe")


def workbook_with_sheet(path: Path, sheet_xml: bytes, **other_parts: bytes) -> Path:
    """A copy of the small workbook with its sheet XML (and any other parts) replaced."""
    members = {**workbook_members(), SHEET: sheet_xml, **other_parts}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def far_cell_sheet(extra_rows: str) -> bytes:
    """The small workbook's sheet with `extra_rows` added after its own rows."""
    xml = workbook_members()[SHEET].decode()
    return xml.replace("</sheetData>", extra_rows + "</sheetData>").encode()


GRID_BOMBS = {
    "two far cells": '<row r="1000000"><c r="XFD1000000"><v>1</v></c></row>',
    "cells placed by position": '<row r="1000000">' + "<c/>" * 16_383 + "<c><v>1</v></c></row>",
    "rows placed by position": '<row r="3"><c r="ZZ3"><v>1</v></c></row>' + "<row/>" * 80_000,
    "namespace prefix": '<x:row r="999999"><x:c r="AAA999999"><x:v>1</x:v></x:c></x:row>',
    "single quotes": "<row r='1048576'><c r='XFD1048576'><v>1</v></c></row>",
    "absurd reference": '<row r="3"><c r="A99999999999999999999"><v>1</v></c></row>',
}


@pytest.mark.parametrize("extra_rows", GRID_BOMBS.values(), ids=GRID_BOMBS.keys())
def test_a_sheet_whose_cells_span_a_huge_grid_is_refused_before_it_is_built(
    tmp_path: Path, extra_rows: str
) -> None:
    path = workbook_with_sheet(tmp_path / "grid.xlsx", far_cell_sheet(extra_rows))
    assert path.stat().st_size < 200_000
    started, memory = time.monotonic(), peak_rss_mb()

    message = refusal(path)  # calamine would abort the process allocating the grid

    assert message.startswith("A sheet of this workbook has cells as far down as row ")
    assert "more than the 50,000,000 we can read. Delete the empty rows and columns" in message
    assert time.monotonic() - started < 5
    assert peak_rss_mb() - memory < 100


def test_a_sheet_with_a_far_but_small_grid_still_reads(tmp_path: Path) -> None:
    extra = '<row r="40000"><c r="Z40000" t="inlineStr"><is><t>far</t></is></c></row>'
    path = workbook_with_sheet(tmp_path / "far.xlsx", far_cell_sheet(extra))

    with open_table(str(path)) as table:
        rows = list(table.rows())

    assert [row.values for row in rows] == [["ada@example.com", "Ada"], ["", ""]]
    assert rows[1].error is not None and rows[1].error.startswith(
        "Row 40000 has a value in column Z, but that column has no name"
    )


def test_a_workbook_whose_parts_are_encrypted_is_explained(tmp_path: Path) -> None:
    path = workbook_with_sheet(tmp_path / "locked.xlsx", workbook_members()[SHEET])
    data = bytearray(path.read_bytes())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        while at >= 0:
            data[at + flags_at] |= 1  # the "encrypted" flag of every part
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))

    assert refusal(path).startswith("This file is not a valid Excel workbook")


def test_a_workbook_with_a_nameless_part_is_read_without_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "nameless.xlsx"
    parts = [(name, *deflated(content)) for name, content in workbook_members().items()]
    write_zip(path, [*parts, ("\x00hidden", *deflated(b"<x/>"))])  # zipfile reads the name as ""

    assert read_file(path) == [["ada@example.com", "Ada"]]


LAUGHS = (
    '<!DOCTYPE worksheet [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * 10}">' for i in range(1, 10)
    )
    + "]>"
)
XXE = '<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
XXE_PARAMETER = (
    '<!DOCTYPE worksheet [<!ENTITY % remote SYSTEM "file:///etc/passwd"> %remote;'
    '<!ENTITY xxe "&#x25;remote;">]>'
)


@pytest.mark.parametrize(
    ("member", "declaration", "reference"),
    [
        (SHEET, LAUGHS, "&lol9;"),
        (SHEET, XXE, "&xxe;"),
        (SHEET, XXE_PARAMETER, "&xxe;"),
        ("xl/workbook.xml", XXE, "&xxe;"),
        (SHEET, XXE, ""),  # declared but never used: the workbook reads, nothing fetched
    ],
    ids=["billion-laughs", "xxe", "xxe-parameter-entity", "xxe-in-workbook", "xxe-unused"],
)
def test_xml_entities_in_a_workbook_are_never_expanded_or_fetched(
    tmp_path: Path, member: str, declaration: str, reference: str
) -> None:
    members = workbook_members()
    xml = members[member].decode()
    if member == SHEET:
        xml = xml.replace("<t>Ada</t>", f"<t>Ada{reference}</t>")
    else:
        xml = xml.replace('name="People"', f'name="People{reference}"')
    members[member] = (declaration + xml).encode()
    path = tmp_path / "entities.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    secret = Path("/etc/passwd").read_text().splitlines()[0]
    started, memory = time.monotonic(), peak_rss_mb()

    try:
        rows = read_file(path)
    except FileFormatError as exc:
        assert str(exc).startswith("This Excel workbook could not be read")
        assert secret not in str(exc) and "lol" not in str(exc)
    else:
        assert reference == "" and rows == [["ada@example.com", "Ada"]]
        assert all(secret not in cell and "root:" not in cell for row in rows for cell in row)
    assert time.monotonic() - started < 2
    assert peak_rss_mb() - memory < 50


# --- JSON nested 100,000 levels deep --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("deep.json", b"[" + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"]"),
        ("deep-lists.json", b"[" * 100_000 + b"]" * 100_000),
        ("deep.ndjson", b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"\n"),
        ("unclosed.json", b'[{"a":' * 100_000),
    ],
)
def test_json_nested_100000_levels_deep_is_refused_quickly(
    tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    started = time.monotonic()

    message = refusal(path)

    where = "Line 1" if name.endswith(".ndjson") else "Record 1"
    assert message.startswith(where) and "nested more than 32 levels deep" in message
    assert time.monotonic() - started < 5


# --- failing part-way: nothing half-written, the job says failed and rolls back ----------------------


@pytest.mark.parametrize("parallel_rows", [1, 20_000], ids=["second-process", "in-process"])
def test_an_import_failing_part_way_keeps_whole_batches_says_failed_and_rolls_back(
    app: Flask, tenant: Tenant, parallel_rows: int
) -> None:
    app.config["IMPORT_MAX_ROWS"] = 5
    app.config["IMPORT_PARALLEL_ROWS"] = parallel_rows  # who reads the file: a child or the job
    rows = [["Email", "First"]] + [[f"p{i}@example.com", f"P{i}"] for i in range(8)]
    job = new_job(tenant, csv_bytes(rows), mapping={"Email": "email", "First": "first_name"})

    job = run_import(job.id, batch_size=2)

    assert job.status == "failed"
    assert job.failure_message == (
        "The file has more than 5 rows, the most one import can take: split it into smaller "
        "files and upload them one by one. The rows before it were imported and can be rolled "
        "back."
    )
    committed = db.session.scalar(select(func.count(Contact.id)))
    assert committed == job.created_count == job.processed_rows == 4  # two whole batches
    recorded = db.session.scalar(
        select(func.count(Contact.id)).where(Contact.created_by_import_id == job.id)
    )
    assert recorded == committed  # each committed contact names its import for the rollback
    assert job.can_rollback

    start_rollback(job)
    job = run_rollback(job.id)

    assert job.status == "rolled_back"
    assert db.session.scalar(select(func.count(Contact.id))) == 0


# --- formula payloads: imported as written, exported inert -------------------------------------------

FORMULAS = [
    '=HYPERLINK("http://x","y")',
    "@SUM(1+1)",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "=1+1",
]


def test_formula_payloads_are_stored_as_written_and_exported_inert(
    app: Flask, tenant: Tenant
) -> None:
    from tests.exports.conftest import export_now, stored_bytes

    rows = [["Email", "First", "Company"]] + [
        [f"f{i}@example.com", value, value] for i, value in enumerate(FORMULAS)
    ]
    job = run_import(new_job(tenant, csv_bytes(rows), mapping=MAPPING_FORMULAS).id)
    assert job.status == "completed" and job.created_count == len(FORMULAS)
    stored = snapshot(tenant.id)
    assert [stored[f"f{i}@example.com"]["company"] for i in range(len(FORMULAS))] == FORMULAS

    fields = ["email", "first_name", "company"]
    as_csv = stored_bytes(app, export_now(tenant, fields, "csv", batch_size=100))
    lines = list(csv.reader(io.StringIO(as_csv.decode("utf-8-sig"))))[1:]
    assert [line[2] for line in sorted(lines)] == ["'" + value for value in FORMULAS]
    assert b"\n=" not in as_csv and b",=" not in as_csv and b',"=' not in as_csv
    assert b",@" not in as_csv and b",+" not in as_csv and b",-" not in as_csv

    as_xlsx = stored_bytes(app, export_now(tenant, fields, "xlsx", batch_size=100))
    with zipfile.ZipFile(io.BytesIO(as_xlsx)) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet  # no formula cell at all
    book = openpyxl.load_workbook(io.BytesIO(as_xlsx))
    cells = [(cell.value, cell.data_type, cell.quotePrefix) for cell in book.active["C"][1:]]
    assert sorted(cells) == sorted((value, "s", True) for value in FORMULAS)


MAPPING_FORMULAS = {"Email": "email", "First": "first_name", "Company": "company"}


def test_formula_payloads_in_refused_rows_are_inert_in_the_error_report(
    app: Flask, tenant: Tenant
) -> None:
    rows = [["Email", "Phone"]] + [[value, "+44 20 7946 0958"] for value in FORMULAS]
    job = run_import(new_job(tenant, csv_bytes(rows), mapping={"Email": "email"}).id)
    assert job.status == "completed" and job.error_count == len(FORMULAS)

    with app.extensions["storage"].open(job.error_report_key) as stream:
        report = stream.read().decode("utf-8-sig")

    lines = list(csv.reader(io.StringIO(report)))
    assert lines[0] == ["Email", "Phone", "row", "error"]
    assert [line[0] for line in lines[1:]] == ["'" + value for value in FORMULAS]
    assert {line[1] for line in lines[1:]} == {"'+44 20 7946 0958"}
    assert all(not cell.startswith(("=", "+", "-", "@")) for line in lines for cell in line)
