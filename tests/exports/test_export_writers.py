"""Each writer on plain rows: formula injection, leading zeros, dates, Unicode, BOM, streaming."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date, datetime

import pytest
from openpyxl import load_workbook

from app.exports.fields import LIST_SEPARATOR, available_fields, resolve_fields
from app.exports.writers import CsvWriter, JsonWriter, XlsxWriter, excel_serial, neutralize

CUSTOM = [
    ("zip", "ZIP", "text"),
    ("score", "Score", "number"),
    ("signup", "Signup", "date"),
    ("vip", "VIP", "boolean"),
]


def fields(*keys: str):
    return resolve_fields(keys, available_fields(CUSTOM))


def write(writer_class, rows, keys, **options) -> bytes:
    out = io.BytesIO()
    writer = writer_class(out, fields(*keys), **options)
    for start in range(0, len(rows), 2):  # several batches, as the job writes them
        writer.write_rows([list(r) for r in rows[start : start + 2]])
    writer.close()
    return out.getvalue()


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+2", "'=1+2"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("-12", "-12"),
        ("+4420794600", "+4420794600"),
        ("-1.5e3", "-1.5e3"),
        ("+.5", "+.5"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_csv_neutralizes_formulas_but_not_plain_numbers(value: str, written: str) -> None:
    assert neutralize(value) == written
    data = write(CsvWriter, [["a@example.com", value]], ["email", "first_name"])
    assert list(csv.reader(io.StringIO(data.decode())))[1] == ["a@example.com", written]


def test_csv_has_a_header_of_labels_and_keeps_unicode_quotes_and_newlines() -> None:
    rows = [
        ["zoë@example.com", "Zoë", 'O"Neil, Jr.', "Straße\nHaus 2", None],
        ["李@example.com", "李", "😀", "", "01234"],
    ]
    data = write(CsvWriter, rows, ["email", "first_name", "last_name", "company", "custom:zip"])
    assert not data.startswith(b"\xef\xbb\xbf")
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert parsed[0] == ["Email", "First name", "Last name", "Company", "ZIP"]
    assert parsed[1] == ["zoë@example.com", "Zoë", 'O"Neil, Jr.', "Straße\nHaus 2", ""]
    assert parsed[2] == ["李@example.com", "李", "😀", "", "01234"]


def test_csv_for_excel_starts_with_a_utf8_bom() -> None:
    data = write(CsvWriter, [["a@example.com"]], ["email"], bom=True)
    assert data.startswith(b"\xef\xbb\xbfEmail\r\n")
    assert data.decode("utf-8-sig").splitlines() == ["Email", "a@example.com"]


def test_csv_joins_tags_with_semicolons() -> None:
    data = write(
        CsvWriter,
        [["a@x.test", f"customer{LIST_SEPARATOR}vip"], ["b@x.test", None]],
        ["email", "tags"],
    )
    assert data.decode().splitlines()[1:] == ["a@x.test,customer; vip", "b@x.test,"]


def _sheet(data: bytes):
    workbook = load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == ["Contacts"]
    return workbook["Contacts"]


def test_xlsx_has_a_bold_frozen_header_and_one_sheet() -> None:
    data = write(XlsxWriter, [["a@example.com", "Ada"]], ["email", "first_name"])
    sheet = _sheet(data)
    assert [c.value for c in sheet[1]] == ["Email", "First name"]
    assert all(c.font.b for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert [c.value for c in sheet[2]] == ["a@example.com", "Ada"]


def test_xlsx_writes_real_dates_numbers_and_booleans() -> None:
    rows = [
        ["a@example.com", "7", "2025-03-04 05:06:07", "2024-02-29", "12", "true"],
        ["b@example.com", "0", "2025-03-04 00:00:00", None, "2.5", "false"],
    ]
    keys = ["email", "emails_opened", "created_at", "custom:signup", "custom:score", "custom:vip"]
    sheet = _sheet(write(XlsxWriter, rows, keys))
    values = [c.value for c in sheet[2]]
    assert values[1] == 7
    assert values[2] == datetime(2025, 3, 4, 5, 6, 7)
    assert sheet.cell(2, 3).number_format == "yyyy-mm-dd hh:mm:ss"
    assert values[3] == datetime(2024, 2, 29)
    assert sheet.cell(2, 4).number_format == "yyyy-mm-dd"
    assert values[4:] == [12, True]
    assert [c.value for c in sheet[3]] == [
        "b@example.com",
        0,
        datetime(2025, 3, 4),
        None,
        2.5,
        False,
    ]


def test_xlsx_keeps_leading_zeros_phones_and_formulas_as_text() -> None:
    row = ["a@example.com", "+441234567890", "01234", "=SUM(A1:A9)", "@here", "-x", "  padded "]
    keys = [
        "email",
        "phone",
        "custom:zip",
        "first_name",
        "last_name",
        "company",
        "subscription_status",
    ]
    data = write(XlsxWriter, [row], keys)
    sheet = _sheet(data)
    cells = sheet[2]
    assert [c.value for c in cells] == row
    assert all(c.data_type == "s" for c in cells)
    assert cells[3].quotePrefix and cells[4].quotePrefix and cells[5].quotePrefix
    xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml  # no cell is a formula


def test_xlsx_escapes_markup_and_drops_characters_xml_cannot_hold() -> None:
    row = ["a@example.com", "<b>Tom & Jerry</b>", "bell\x07here", "Zoë 李 😀"]
    sheet = _sheet(write(XlsxWriter, [row], ["email", "first_name", "last_name", "company"]))
    assert [c.value for c in sheet[2]] == [
        "a@example.com",
        "<b>Tom & Jerry</b>",
        "bellhere",
        "Zoë 李 😀",
    ]


def test_xlsx_with_no_rows_still_opens() -> None:
    sheet = _sheet(write(XlsxWriter, [], ["email"]))
    assert [[c.value for c in r] for r in sheet.iter_rows()] == [["Email"]]


def test_excel_serial_matches_excel() -> None:
    assert excel_serial(date(1900, 3, 1)) == 61
    assert excel_serial(datetime(2025, 1, 1, 12)) == 45658.5


def test_json_is_one_array_with_custom_fields_under_their_keys_and_tags_as_a_list() -> None:
    rows = [
        [
            "a@example.com",
            "Zoë",
            f"b{LIST_SEPARATOR}c",
            "01234",
            "12",
            "2024-05-01",
            "true",
            "2025-01-02 03:04:05",
        ],
        ["b@example.com", None, None, None, None, None, None, "2025-01-02 03:04:05"],
        ["c@example.com", "Al", "x", None, "1.5", None, "false", "2025-01-02 03:04:05"],
    ]
    keys = [
        "email",
        "first_name",
        "tags",
        "custom:zip",
        "custom:score",
        "custom:signup",
        "custom:vip",
        "created_at",
    ]
    data = write(JsonWriter, rows, keys)
    assert data.startswith(b"[\n{") and data.endswith(b"}\n]\n")
    records = json.loads(data)
    assert records[0] == {
        "email": "a@example.com",
        "first_name": "Zoë",
        "tags": ["b", "c"],
        "created_at": "2025-01-02T03:04:05Z",
        "custom_fields": {"zip": "01234", "score": 12, "signup": "2024-05-01", "vip": True},
    }
    assert records[1]["tags"] == [] and records[1]["first_name"] is None
    assert records[2]["custom_fields"]["score"] == 1.5
    assert "Zoë".encode() in data  # UTF-8, not \\u escapes


def test_json_with_no_rows_is_an_empty_array() -> None:
    assert json.loads(write(JsonWriter, [], ["email"])) == []


def test_ndjson_writes_one_object_a_line() -> None:
    data = write(JsonWriter, [["a@x.test"], ["b@x.test"], ["c@x.test"]], ["email"], lines=True)
    lines = data.decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"email": "a@x.test"},
        {"email": "b@x.test"},
        {"email": "c@x.test"},
    ]


def test_custom_label_that_repeats_a_standard_label_gets_its_key() -> None:
    chosen = resolve_fields(
        ["email", "custom:email2"], available_fields([("email2", "Email", "text")])
    )
    assert [f.label for f in chosen] == ["Email", "Email (email2)"]
