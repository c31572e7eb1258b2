"""Mapping suggestions that know localized headers, read the values and suggest common columns."""

from __future__ import annotations

import pytest

from app.imports.column_values import looks_like_phone, profile
from app.imports.header_spellings import COMMON_COLUMNS, SPELLINGS, fold_accents, normalize_header
from app.imports.mapping import (
    STANDARD_FIELDS,
    FieldTarget,
    suggest_mapping,
    target_to_spec,
)

IGNORE = FieldTarget("ignore")


def specs(headers: list[str], samples: list[list[str]] | None = None, **kwargs: object) -> dict:
    return {
        s.header: target_to_spec(s.target)
        for s in suggest_mapping(headers, samples=samples, **kwargs)  # type: ignore[arg-type]
    }


def by_header(headers: list[str], samples: list[list[str]] | None = None, **kwargs: object):
    return {s.header: s for s in suggest_mapping(headers, samples=samples, **kwargs)}  # type: ignore[arg-type]


# --- headers in the languages marketers export in --------------------------------------------

LOCALIZED_EXPORTS = {
    "German": (
        [
            "Vorname",
            "Nachname",
            "E-Mail-Adresse",
            "Firma",
            "Mobiltelefon",
            "Position",
            "PLZ",
            "Ort",
        ],
        [
            "first_name",
            "last_name",
            "email",
            "company",
            "phone",
            "job_title:text",
            "postal_code:text",
            "city:text",
        ],
    ),
    "French": (
        ["Prénom", "Nom", "Adresse e-mail", "Société", "Téléphone", "Ville", "Code postal", "Pays"],
        [
            "first_name",
            "last_name",
            "email",
            "company",
            "phone",
            "city:text",
            "postal_code:text",
            "country:text",
        ],
    ),
    "Spanish": (
        ["Nombre", "Apellidos", "Correo electrónico", "Empresa", "Teléfono móvil", "Etiquetas"],
        ["first_name", "last_name", "email", "company", "phone", "tags"],
    ),
    "Italian": (
        ["Nome", "Cognome", "Indirizzo email", "Azienda", "Cellulare", "Data di nascita"],
        ["first_name", "last_name", "email", "company", "phone", "birthday:date"],
    ),
    "Dutch": (
        ["Voornaam", "Achternaam", "E-mailadres", "Bedrijfsnaam", "Telefoonnummer", "Woonplaats"],
        ["first_name", "last_name", "email", "company", "phone", "city:text"],
    ),
    "Portuguese": (
        ["Primeiro nome", "Sobrenome", "Endereço de e-mail", "Empresa", "Telemóvel", "Cargo"],
        ["first_name", "last_name", "email", "company", "phone", "job_title:text"],
    ),
    "Polish": (
        ["Imię", "Nazwisko", "Adres e-mail", "Nazwa firmy", "Numer telefonu", "Stanowisko"],
        ["first_name", "last_name", "email", "company", "phone", "job_title:text"],
    ),
    "Swedish": (
        ["Förnamn", "Efternamn", "E-postadress", "Företag", "Mobiltelefon", "Postnummer"],
        ["first_name", "last_name", "email", "company", "phone", "postal_code:text"],
    ),
    "Danish": (
        ["Fornavn", "Efternavn", "E-mailadresse", "Virksomhed", "Mobilnummer", "Fødselsdato"],
        ["first_name", "last_name", "email", "company", "phone", "birthday:date"],
    ),
    "Norwegian": (
        ["Fornavn", "Etternavn", "E-postadresse", "Bedrift", "Telefonnummer", "Fylke"],
        ["first_name", "last_name", "email", "company", "phone", "state:text"],
    ),
}


@pytest.mark.parametrize("language", sorted(LOCALIZED_EXPORTS))
def test_an_export_in_each_language_is_mapped_without_help(language: str) -> None:
    headers, expected = LOCALIZED_EXPORTS[language]
    assert specs(headers) == dict(zip(headers, expected, strict=True))


def test_a_localized_spelling_says_which_language_it_is() -> None:
    suggestion = by_header(["Vorname"])["Vorname"]
    assert suggestion.reason == "alias"
    assert suggestion.detail == "Known spelling, German ('Vorname')"
    shared = by_header(["Etiquetas"])["Etiquetas"]
    assert shared.detail == "Known spelling, Spanish and Portuguese ('Etiquetas')"


@pytest.mark.parametrize(
    ("header", "spec"),
    [
        ("Prenom", "first_name"),
        ("TELEFONO", "phone"),
        ("correo electronico", "email"),
        ("Strasse", "address:text"),
        ("e_mail_adresse", "email"),
    ],
)
def test_spellings_match_without_accents_and_in_any_case(header: str, spec: str) -> None:
    assert specs([header]) == {header: spec}


def test_no_spelling_stands_for_two_targets_nor_hides_a_field_name() -> None:
    field_names = {normalize_header(n) for k, label in STANDARD_FIELDS.items() for n in (k, label)}
    seen: dict[str, str] = {}
    tables = [(lang, spec, sp) for lang, f in SPELLINGS.items() for spec, sp in f.items()]
    tables += [
        (lang, f"{c.key}:{c.custom_type}", sp)
        for c in COMMON_COLUMNS
        for lang, sp in c.spellings.items()
    ]
    for language, spec, spellings in tables:
        for spelling in spellings:
            key = fold_accents(normalize_header(spelling))
            assert key not in field_names, f"{language} '{spelling}' hides a field name"
            assert seen.setdefault(key, spec) == spec, f"'{spelling}' stands for two targets"


# --- common columns become new custom fields -----------------------------------------------


def test_common_columns_are_suggested_as_new_custom_fields_with_a_key_and_type() -> None:
    suggestions = by_header(["Email", "Job Title", "Website", "Birthday", "Lead Source"])
    assert target_to_spec(suggestions["Job Title"].target) == "job_title:text"
    assert target_to_spec(suggestions["Birthday"].target) == "birthday:date"
    assert suggestions["Website"].reason == "common"
    assert suggestions["Lead Source"].detail == (
        "A common column ('Lead Source' in English): a new custom field 'lead_source' (text)"
    )


def test_a_common_column_the_tenant_already_has_maps_to_that_field() -> None:
    suggestion = by_header(["Ville"], custom_fields={"city": "Town or city"})["Ville"]
    assert suggestion.target == FieldTarget("custom", "city")
    assert suggestion.detail.endswith("your custom field 'Town or city'")


def test_a_new_custom_field_takes_the_type_of_its_values() -> None:
    rows = [["a@x.com", "12", "yes"], ["b@x.com", "7.5", "no"], ["c@x.com", "3", "Y"]]
    suggestions = by_header(["Email", "Lead Source", "Birthday"], rows)
    assert suggestions["Lead Source"].target == FieldTarget("custom", "lead_source", "number")
    assert "3 of 3 sampled values are numbers" in suggestions["Lead Source"].detail
    # a birthday column that holds no dates falls back to text, so the import refuses no row
    assert suggestions["Birthday"].target.custom_type == "text"
    assert suggestions["Birthday"].detail.endswith("not every sampled value is dates")


def test_postal_codes_with_leading_zeros_stay_text() -> None:
    rows = [["a@x.com", "01234"], ["b@x.com", "02115"]]
    assert by_header(["Email", "Zip"], rows)["Zip"].target == FieldTarget(
        "custom", "postal_code", "text"
    )


# --- values --------------------------------------------------------------------------------


def test_a_column_of_email_addresses_is_the_email_column_whatever_its_header() -> None:
    rows = [[f"person{n}@example.com", f"Name {n}"] for n in range(48)] + [["n/a", "X"], ["", "Y"]]
    suggestion = by_header(["Primary contact (work, verified)", "Name"], rows)[
        "Primary contact (work, verified)"
    ]
    assert suggestion.target == FieldTarget("standard", "email")
    assert suggestion.reason == "values"
    assert suggestion.detail == "48 of 49 sampled values are email addresses"


def test_a_column_of_phone_numbers_is_suggested_as_phone() -> None:
    rows = [
        ["a@x.com", "+44 20 7946 0958"],
        ["b@x.com", "020 7946 0000"],
        ["c@x.com", "(555) 123-4567"],
    ]
    suggestion = by_header(["Email", "Contact no."], rows)["Contact no."]
    assert suggestion.target == FieldTarget("standard", "phone")
    assert suggestion.detail == "3 of 3 sampled values look like phone numbers"


def test_ids_and_amounts_are_not_phone_numbers() -> None:
    for value in ("10023456", "1234567.89", "12345", "+1", "2024-05-01", "ABC-123-456",
                  "203.0.113.45", "-0.127758", "51.507351", "00000012"):  # fmt: skip
        assert not looks_like_phone(value), value
    for value in ("+44 20 7946 0958", "0049 30 123456", "(555) 123-4567", "06-12345678"):
        assert looks_like_phone(value), value


def test_an_empty_column_is_never_suggested_and_says_why() -> None:
    rows = [["a@x.com", "", "Ann"], ["b@x.com", " ", "Bob"]]
    suggestion = by_header(["Email", "Phone", "First name"], rows)["Phone"]
    assert (suggestion.target, suggestion.reason) == (IGNORE, "empty")
    assert suggestion.detail == "Empty in the first 2 rows: nothing to import from this column"


def test_of_several_phone_columns_the_filled_one_wins_and_the_empty_one_says_so() -> None:
    """An address-book export: the empty 'Home Phone' was suggested, the numbers left out."""
    headers = ["E-mail Address", "Home Phone", "Business Phone", "Mobile Phone"]
    rows = [
        ["a@x.com", "", "", "+44 7700 900001"],
        ["b@x.com", "", "020 7946 0001", "+44 7700 900002"],
        ["c@x.com", "", "", "+44 7700 900003"],
    ]
    suggestions = by_header(headers, rows)
    assert [h for h, s in suggestions.items() if s.target.key == "phone"] == ["Mobile Phone"]
    assert suggestions["Home Phone"].reason == "empty"
    assert suggestions["Business Phone"].detail == (
        "Could be Phone, but 'Mobile Phone' has more phone numbers in the first rows (3 against 1)"
        ": pick another field or leave it as Don't import"
    )


def test_without_values_the_header_alone_decides_as_before() -> None:
    assert specs(["Home Phone", "Mobile Phone"]) == {
        "Home Phone": "phone",
        "Mobile Phone": "ignore",
    }
    assert specs(["Home Phone", "Mobile Phone"], samples=[]) == {
        "Home Phone": "phone",
        "Mobile Phone": "ignore",
    }


def test_a_remembered_choice_is_kept_unless_the_column_is_empty() -> None:
    remembered = {"Notes": "custom:notes:text"}
    rows = [["a@x.com", "b@x.com"]]
    assert (
        by_header(["Email", "Notes"], rows, remembered=remembered)["Notes"].reason == "remembered"
    )
    empty = by_header(["Email", "Notes"], [["a@x.com", ""]], remembered=remembered)["Notes"]
    assert empty.reason == "empty"


def test_profiles_count_what_the_values_look_like() -> None:
    counted = profile(["a@b.co", "+44 20 7946 0958", "2024-05-01", "12", "yes", "", "  "])
    assert (counted.sampled, counted.filled) == (7, 5)
    assert (counted.emails, counted.phones, counted.dates, counted.numbers, counted.booleans) == (
        1,
        1,
        1,
        1,
        1,
    )


def test_a_column_with_the_email_header_beats_a_column_of_one_repeated_address() -> None:
    """An 'Owner' column full of the sales rep's address must not become the Email column."""
    rows = [["rep@corp.com", f"c{n}@x.com" if n % 10 else ""] for n in range(50)]
    suggestions = by_header(["Owner", "Email Address"], rows)
    assert suggestions["Email Address"].target == FieldTarget("standard", "email")
    assert suggestions["Owner"].target == IGNORE
    assert "'Email Address' matches it better" in suggestions["Owner"].detail


def test_a_phone_header_keeps_phone_against_ip_addresses_and_padded_ids() -> None:
    rows = [[f"203.0.113.{n}", f"{n:08d}", "+44 20 7946 0958" if n < 5 else ""] for n in range(50)]
    suggestions = by_header(["OPTIN_IP", "Customer no", "Phone Number"], rows)
    assert [h for h, s in suggestions.items() if s.target.key == "phone"] == ["Phone Number"]


def test_postal_codes_and_country_codes_keep_the_text_type() -> None:
    rows = [["a@x.com", "02134", "NO"], ["b@x.com", "10115", "SE"], ["c@x.com", "75001", "DK"]]
    suggestions = by_header(["Email", "Zip", "Land"], rows)
    assert suggestions["Zip"].target == FieldTarget("custom", "postal_code", "text")
    assert suggestions["Land"].target == FieldTarget("custom", "country", "text")


def test_a_crm_status_column_is_not_taken_for_the_subscription_status() -> None:
    rows = [["a@x.com", "Open"], ["b@x.com", "Working"], ["c@x.com", "Customer"]]
    suggestion = by_header(["Email", "Status"], rows)["Status"]
    assert suggestion.target == IGNORE
    assert suggestion.detail.startswith(
        "Could be Subscription status, but only 0 of 3 sampled values are statuses"
    )
    mailchimp = by_header(["Email", "Status"], [["a@x.com", "subscribed"], ["b@x.com", "cleaned"]])
    assert mailchimp["Status"].target == FieldTarget("standard", "subscription_status")


def test_a_date_type_is_suggested_only_when_every_sampled_value_is_a_date() -> None:
    rows = [["a@x.com", "1990-04-05"]] * 46 + [["b@x.com", "05/04/1990"]] * 4
    assert by_header(["Email", "Birthday"], rows)["Birthday"].target.custom_type == "text"
