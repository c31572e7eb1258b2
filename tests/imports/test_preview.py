"""The wizard's preview and check report: pure functions, no app."""

from __future__ import annotations

from app.imports.mapping import FieldTarget
from app.imports.parsing import SourceRow
from app.imports.preview import display_value, preview_rows
from app.imports.validation import ValidationOptions

HEADERS = ["Email", "Phone", "Joined", "Labels", "Notes"]
MAPPING = {
    "Email": FieldTarget("standard", "email"),
    "Phone": FieldTarget("standard", "phone"),
    "Joined": FieldTarget("custom", "joined", "date"),
    "Labels": FieldTarget("tags"),
}
OPTIONS = ValidationOptions(validate_email=True, validate_phone=False, default_region="GB")


def test_valid_rows_show_the_values_as_they_will_be_stored() -> None:
    rows = [
        SourceRow(2, [" Ada@Example.COM ", "020 7946 0958", "2024/05/01", "vip; VIP, fair", "x"])
    ]
    columns, preview = preview_rows(HEADERS, rows, MAPPING, {}, OPTIONS)
    assert [c.header for c in columns] == ["Email", "Phone", "Joined", "Labels"]  # Notes ignored
    cells = preview[0].cells
    assert [c.text for c in cells[:3]] == ["ada@example.com", "+442079460958", "2024-05-01"]
    assert cells[3].tags == ("vip", "fair")
    assert preview[0].is_valid


def test_an_invalid_cell_carries_its_message_and_the_others_are_still_normalized() -> None:
    rows = [SourceRow(3, ["not-an-email", "020 7946 0958", "someday", "", ""])]
    _, preview = preview_rows(HEADERS, rows, MAPPING, {}, OPTIONS)
    email, phone, joined, _tags = preview[0].cells
    assert email.text == "not-an-email" and "not a valid email address" in (email.error or "")
    assert phone.text == "+442079460958" and phone.error is None
    assert joined.text == "someday" and "Joined" in (joined.error or "")
    assert not preview[0].is_valid


def test_a_row_the_reader_refused_is_flagged_as_a_whole() -> None:
    rows = [SourceRow(4, ["a@example.com", "", "", "", ""], error="Row 4 has 7 cells")]
    _, preview = preview_rows(HEADERS, rows, MAPPING, {}, OPTIONS)
    assert preview[0].error == "Row 4 has 7 cells" and not preview[0].is_valid


def test_display_value_reads_like_a_person_would_write_it() -> None:
    assert display_value(True) == "Yes" and display_value(False) == "No"
    assert display_value(12.0) == "12" and display_value(1.5) == "1.5"
    assert display_value(None) == ""
