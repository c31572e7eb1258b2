"""Normalizing and validating rows: email, phone, custom values, tags and messages."""

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from app.imports.mapping import MappingError, parse_target
from app.imports.validation import (
    CleanRow,
    RowError,
    RowValidator,
    ValidationOptions,
    email_domain_typo,
    is_simple_email,
)

CONTACT_COLUMNS = {
    "Email": "email",
    "First": "first_name",
    "Last": "last_name",
    "Company": "company",
    "Mobile": "phone",
}


def make_validator(
    columns: dict[str, str] | None = None,
    custom_types: dict[str, str] | None = None,
    **options: object,
) -> RowValidator:
    """A validator for a file whose headers are the keys of `columns` (header -> target spec)."""
    columns = columns or CONTACT_COLUMNS
    mapping = {header: parse_target(spec) for header, spec in columns.items()}
    return RowValidator(list(columns), mapping, custom_types or {}, ValidationOptions(**options))


def clean(validator: RowValidator, values: list[str], row: int = 2) -> CleanRow:
    """Validate a row that must pass."""
    result = validator.validate(row, values)
    assert isinstance(result, CleanRow), result
    return result


def errors(validator: RowValidator, values: list[str], row: int = 2) -> list[RowError]:
    """Validate a row that must fail."""
    result = validator.validate(row, values)
    assert isinstance(result, list), result
    return result


def only_message(validator: RowValidator, values: list[str]) -> str:
    """The message of the single error of a failing row."""
    (error,) = errors(validator, values)
    return error.message


def custom_value(custom_type: str, value: str) -> object:
    """The typed value of one custom cell that must convert."""
    validator = make_validator({"Email": "email", "Value": "value"}, {"value": custom_type})
    return clean(validator, ["a@example.com", value]).custom["value"]


def custom_error(custom_type: str, value: str) -> str:
    """The message for one custom cell that must not convert."""
    validator = make_validator({"Email": "email", "Value": "value"}, {"value": custom_type})
    return only_message(validator, ["a@example.com", value])


def test_a_typical_row_comes_back_trimmed_and_normalized():
    row = clean(
        make_validator(),
        ["  Jane.Doe@Example.COM ", " Jane ", "Doe", "Acme Ltd", "+447911123456"],
        row=7,
    )
    assert row == CleanRow(
        row=7,
        email="jane.doe@example.com",
        email_normalized="jane.doe@example.com",
        fields={
            "first_name": "Jane",
            "last_name": "Doe",
            "company": "Acme Ltd",
            "phone": "+447911123456",
        },
        custom={},
        tags=[],
    )


def test_every_value_is_put_in_unicode_nfc():
    row = clean(make_validator(), ["jose@example.com", "Jose\u0301", "Mu\u0308ller", "", ""])
    assert row.fields["first_name"] == "Jos\u00e9"
    assert row.fields["last_name"] == "M\u00fcller"


def test_blank_cells_stay_blank_and_unmapped_fields_are_absent():
    validator = make_validator({"Email": "email", "First": "first_name", "Notes": "ignore"})
    row = clean(validator, ["a@example.com", "", "call back"])
    assert row.fields == {"first_name": ""}


def test_a_short_row_reads_its_missing_cells_as_blank():
    row = clean(make_validator(), ["a@example.com", "Ann"])
    assert row.fields == {"first_name": "Ann", "last_name": "", "company": "", "phone": ""}


def test_a_row_without_email_names_row_and_column():
    (error,) = errors(make_validator(), ["  ", "Jane", "", "", ""], row=12)
    assert error == RowError(
        row=12,
        column="Email",
        value="",
        message="Row 12 has no email address in column 'Email': add one or remove the row.",
        code="missing",
    )


def test_an_invalid_email_says_what_is_wrong_and_what_to_do():
    (error,) = errors(make_validator(), ["jane@@example", "", "", "", ""])
    assert (error.column, error.value) == ("Email", "jane@@example")
    assert error.message.startswith(
        "'jane@@example' in column 'Email' is not a valid email address: check for typos. "
    )


def test_an_invalid_email_at_a_misspelt_provider_suggests_the_fix():
    message = only_message(make_validator(), ["jane@gmial", "", "", "", ""])
    assert message.startswith(
        "'jane@gmial' in column 'Email' is not a valid email address: "
        "check for typos (did you mean jane@gmail.com?). "
    )


def test_an_international_address_is_accepted_and_lowercased():
    row = clean(make_validator(), ["Jöhn@Bücher.DE", "", "", "", ""])
    assert (row.email, row.email_normalized) == ("jöhn@bücher.de", "jöhn@bücher.de")


def test_without_email_validation_anything_with_an_at_sign_is_accepted():
    validator = make_validator(validate_email=False)
    assert clean(validator, ["Odd@Thing", "", "", "", ""]).email_normalized == "odd@thing"
    assert only_message(validator, ["no-at-sign", "", "", "", ""]) == (
        "'no-at-sign' in column 'Email' is not an email address: "
        "it needs an @ with something on both sides."
    )
    assert len(errors(validator, ["@example.com", "", "", "", ""])) == 1


TRICKY_ADDRESSES = [
    "plain@example.com",
    "o'neil+news@mail.example.co.uk",
    "under_score%pct@sub-domain.example.org",
    "UPPER@EXAMPLE.COM",
    "a@1.com",
    "a..b@example.com",
    ".a@example.com",
    "a.@example.com",
    "a@-example.com",
    "a@example-.com",
    "a@example..com",
    "a@example.com.",
    "a@example.c",
    "a@example.123",
    "a@localhost",
    "a@example.test",
    "a@printer.LOCAL",
    "a@xn--bcher-kva.de",
    "a@ab--cd.com",
    "a@under_score.com",
    "a b@example.com",
    '"quoted"@example.com',
    "a@[192.0.2.1]",
    "jöhn@example.de",
    "a@" + "x" * 63 + ".com",
    "a@" + "x" * 64 + ".com",
    "a" * 64 + "@example.com",
    "a" * 240 + "@example.com",
    "a" * 250 + "@example.com",
    "Jane Doe <jane@example.com>",
]


@pytest.mark.parametrize("address", TRICKY_ADDRESSES)
def test_the_fast_path_and_email_validator_agree_on_tricky_addresses(address):
    try:
        expected = validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        expected = None
    assert not (is_simple_email(address) and expected is None)
    result = make_validator({"Email": "email"}).validate(2, [address])
    if expected is None:
        assert isinstance(result, list)
    else:
        assert isinstance(result, CleanRow)
        assert result.email_normalized == expected


def test_the_fast_path_accepts_the_common_simple_addresses():
    assert all(
        is_simple_email(address)
        for address in ["jane.doe@example.com", "o'neil+tag@mail.example.co.uk", "A_1@x-y.io"]
    )


_LABELS = st.from_regex(r"[A-Za-z0-9-]{1,8}", fullmatch=True) | st.sampled_from(
    ["ab--cd", "xn--bcher-kva", "x" * 63, "x" * 64, "-a", "a-"]
)
_ADDRESSES = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
    st.from_regex(r"[A-Za-z0-9._%+'-]{1,12}", fullmatch=True),
    st.lists(_LABELS, min_size=1, max_size=3),
    st.sampled_from(["com", "io", "c", "123", "test", "Localhost", "ONION", "arpa", "x1", "co-"])
    | st.from_regex(r"[A-Za-z]{2,5}", fullmatch=True),
)


@settings(max_examples=300, deadline=None, database=None)
@given(_ADDRESSES | st.text(max_size=30))
def test_whatever_the_fast_path_accepts_email_validator_accepts_the_same_way(address):
    if is_simple_email(address):
        result = validate_email(address, check_deliverability=False)
        assert result.normalized.lower() == address.lower()


@pytest.mark.parametrize(
    ("options", "phone", "stored"),
    [
        ({}, "+447911123456", "+447911123456"),
        ({}, "+44 7911 123456", "+447911123456"),
        ({"default_region": "GB"}, "07911 123456", "+447911123456"),
        ({"default_region": "gb"}, "(020) 7946-0958", "+442079460958"),
        ({"default_region": "US"}, "(201) 555-0123 ext. 7", "+12015550123 ext. 7"),
        ({}, "07911 123456", "07911 123456"),
        ({}, "call me", "call me"),
        ({"validate_phone": True, "default_region": "GB"}, "07911 123456", "+447911123456"),
        ({"validate_phone": True}, "", ""),
    ],
)
def test_phones_are_stored_in_e164_when_they_parse(options, phone, stored):
    row = clean(make_validator(**options), ["a@example.com", "", "", "", phone])
    assert row.fields["phone"] == stored


def test_with_phone_validation_an_invalid_phone_is_an_error_that_says_what_to_do():
    validator = make_validator(validate_phone=True, default_region="GB")
    (error,) = errors(validator, ["a@example.com", "", "", "", "12345"])
    assert error == RowError(
        row=2,
        column="Mobile",
        value="12345",
        message="'12345' in column 'Mobile' is not a valid phone number: include the country "
        "code, e.g. +44 20 7946 0958, or choose a default country.",
    )


def test_with_phone_validation_a_national_number_needs_a_default_country():
    validator = make_validator(validate_phone=True)
    assert only_message(validator, ["a@example.com", "", "", "", "07911 123456"]).startswith(
        "'07911 123456' in column 'Mobile' is not a valid phone number"
    )


def test_an_unknown_default_country_is_refused_up_front():
    with pytest.raises(ValueError, match="'XX' is not a country"):
        make_validator(default_region="XX")


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("42", 42),
        ("-12.5", -12.5),
        ("+7", 7),
        ("3.0", 3),
        (".5", 0.5),
        ("1,234.5", 1234.5),
        ("1,234,567", 1234567),
        ("-1,000.25", -1000.25),
    ],
)
def test_numbers_convert_to_int_when_whole_and_float_otherwise(value, number):
    converted = custom_value("number", value)
    assert converted == number
    assert type(converted) is type(number)


@pytest.mark.parametrize("value", ["1e3", "abc", "12,5", "1.234,5", "$5", "1_000", "nan", "1 000"])
def test_values_that_are_not_plain_numbers_are_errors(value):
    assert custom_error("number", value) == (
        f"'{value}' in column 'Value' is not a number: use digits with an optional minus sign "
        "and a decimal point, e.g. -1234.5."
    )


def test_a_number_longer_than_40_characters_is_an_error():
    assert custom_value("number", "1" * 40) == int("1" * 40)
    assert custom_error("number", "1" * 41).endswith(
        "is too long for a number: numbers can have at most 40 characters."
    )


def test_a_single_comma_thousands_separator_is_ambiguous():
    assert custom_error("number", "1,234") == (
        "'1,234' in column 'Value' could mean two numbers, because the comma may separate "
        "thousands or decimals: write 1234 or 1.234."
    )


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("2024-05-01", "2024-05-01"),
        ("2024-5-1", "2024-05-01"),
        ("2024-05-01T10:00:00", "2024-05-01"),
        ("2024-05-01 23:59", "2024-05-01"),
        ("2024-05-01T10:00:00.123+02:00", "2024-05-01"),
        ("2024/05/01", "2024-05-01"),
        ("01.05.2024", "2024-05-01"),
        ("25/12/2024", "2024-12-25"),
        ("12/25/2024", "2024-12-25"),
        ("5/5/2024", "2024-05-05"),
    ],
)
def test_dates_convert_to_iso_when_unambiguous(value, iso):
    assert custom_value("date", value) == iso


def test_a_date_that_could_be_day_or_month_first_is_an_error():
    assert custom_error("date", "01/05/2024") == (
        "'01/05/2024' in column 'Value' could be day/month or month/day: "
        "use YYYY-MM-DD, e.g. 2024-05-01, so everyone reads it the same way."
    )


@pytest.mark.parametrize("value", ["2024-02-30", "2024-13-01", "31/31/2024", "0000-01-01"])
def test_a_date_that_is_not_on_the_calendar_is_an_error(value):
    assert custom_error("date", value) == (
        f"'{value}' in column 'Value' is not a real calendar date: use YYYY-MM-DD, e.g. 2024-05-01."
    )


@pytest.mark.parametrize("value", ["tomorrow", "1 May 2024", "2024-05", "20240501"])
def test_a_value_that_is_not_a_date_is_an_error(value):
    assert custom_error("date", value) == (
        f"'{value}' in column 'Value' is not a date: use YYYY-MM-DD, e.g. 2024-05-01."
    )


@pytest.mark.parametrize(
    ("value", "flag"),
    [
        ("true", True),
        ("YES", True),
        ("y", True),
        ("1", True),
        ("On", True),
        ("false", False),
        ("No", False),
        ("n", False),
        ("0", False),
        ("OFF", False),
    ],
)
def test_booleans_accept_the_usual_yes_no_spellings(value, flag):
    assert custom_value("boolean", value) is flag


def test_a_value_that_is_not_yes_or_no_is_an_error():
    assert custom_error("boolean", "maybe") == (
        "'maybe' in column 'Value' is not a yes/no value: use true or false "
        "(yes/no, y/n, 1/0 and on/off work too)."
    )


def test_text_is_kept_as_entered():
    assert custom_value("text", "  Gold plan ") == "Gold plan"


@pytest.mark.parametrize("custom_type", ["text", "number", "date", "boolean"])
def test_a_blank_custom_cell_is_none_whatever_its_type(custom_type):
    assert custom_value(custom_type, " ") is None


def test_a_custom_field_the_import_creates_takes_its_type_from_the_mapping():
    validator = make_validator({"Email": "email", "Score": "score:number"})
    assert clean(validator, ["a@example.com", "7"]).custom == {"score": 7}


def test_a_long_bad_value_is_shortened_in_the_message_but_kept_in_the_error():
    value = "x" * 200
    validator = make_validator({"Email": "email", "Value": "value"}, {"value": "boolean"})
    (error,) = errors(validator, ["a@example.com", value])
    assert error.value == value
    assert error.message.startswith("'" + "x" * 59 + "…' in column 'Value' is not a yes/no value")


def test_tags_split_on_semicolons_and_commas_and_merge_across_columns():
    validator = make_validator({"Email": "email", "Tags": "tags", "Groups": "tags"})
    row = clean(validator, ["a@example.com", " VIP; newsletter ,, ", "vip,Events;NEWSLETTER"])
    assert row.tags == ["VIP", "newsletter", "Events"]


def test_a_tag_longer_than_100_characters_is_an_error():
    validator = make_validator({"Email": "email", "Tags": "tags"})
    assert clean(validator, ["a@example.com", "t" * 100]).tags == ["t" * 100]
    (error,) = errors(validator, ["a@example.com", "ok;" + "t" * 101])
    assert error.column == "Tags"
    assert error.message == (
        "The tag '"
        + "t" * 59
        + "…' in column 'Tags' has 101 characters: shorten it to at most 100."
    )


def test_every_problem_of_a_row_is_reported_together():
    validator = make_validator(
        {"Email": "email", "Mobile": "phone", "Score": "score", "Born": "born"},
        {"score": "number", "born": "date"},
        validate_phone=True,
    )
    found = errors(validator, ["", "12", "lots", "soon"], row=5)
    assert [(error.row, error.column) for error in found] == [
        (5, "Email"),
        (5, "Mobile"),
        (5, "Score"),
        (5, "Born"),
    ]


def test_a_validator_refuses_a_mapping_without_email():
    with pytest.raises(MappingError, match="Map a column to Email"):
        make_validator({"First": "first_name"})


def test_a_validator_refuses_a_custom_field_without_a_type():
    with pytest.raises(MappingError) as raised:
        make_validator({"Email": "email", "Zip": "custom:zip"})
    assert raised.value.problems == [
        "Custom field 'zip' does not exist: create it or map 'Zip' to another field."
    ]


@pytest.mark.parametrize(
    ("domain", "fix"),
    [
        ("gamil.com", "gmail.com"),
        ("gmial.com", "gmail.com"),
        ("gmai.com", "gmail.com"),
        ("GMAIL.CON", "gmail.com"),
        ("gmail.co", "gmail.com"),
        ("hotmial.com", "hotmail.com"),
        ("hotmal.com", "hotmail.com"),
        ("yaho.com", "yahoo.com"),
        ("yahooo.com", "yahoo.com"),
        ("outlok.com", "outlook.com"),
        ("iclod.com", "icloud.com"),
        ("gmial.con", "gmail.com"),
        ("acme.con", "acme.com"),
        ("acme.cmo", "acme.com"),
        ("aol.con", "aol.com"),
    ],
)
def test_likely_typos_of_email_domains_are_spotted(domain, fix):
    assert email_domain_typo(domain) == fix


@pytest.mark.parametrize(
    "domain",
    [
        "gmail.com",
        "hotmail.co.uk",
        "me.com",
        "mail.com",
        "ymail.com",
        "example.com",
        "acme.co.uk",
        "aon.com",
        "hotmail.de",
        "yahoo.fr",
        "protonmail.ch",
        "verizon.com",
        "mail.ru",
        "",
    ],
)
def test_real_domains_are_not_taken_for_typos(domain):
    assert email_domain_typo(domain) is None
