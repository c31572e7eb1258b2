"""The wizard's forms: upload, file settings and import options (the mapping form is dynamic)."""

from __future__ import annotations

import unicodedata
from functools import cache

import phonenumbers
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, RadioField, SelectField, SelectMultipleField, StringField
from wtforms.validators import Length, Optional, ValidationError

from app.imports.options import DUPLICATE_STRATEGIES, FIELD_RULES

FILE_TYPES = [
    ("csv", "CSV or TSV (text with a delimiter)"),
    ("xlsx", "Excel workbook (.xlsx)"),
    ("json", "JSON or NDJSON"),
]
ENCODINGS = [
    ("utf-8", "UTF-8"),
    ("utf-8-sig", "UTF-8 with BOM"),
    ("utf-16", "UTF-16"),
    ("cp1252", "Windows Western (Windows-1252)"),
    ("iso8859-1", "Latin-1 (ISO-8859-1)"),
    ("iso8859-15", "Latin-9 (ISO-8859-15)"),
    ("cp1250", "Windows Central European (Windows-1250)"),
    ("mac-roman", "Mac Roman"),
]
DELIMITERS = [
    (",", "Comma ( , )"),
    (";", "Semicolon ( ; )"),
    ("\t", "Tab"),
    ("|", "Pipe ( | )"),
]
RULE_LABELS = {
    "overwrite": "Overwrite",
    "fill_empty": "Fill only if empty",
    "never": "Never change",
}
TAG_MODE_LABELS = [
    ("add", "Add the file's tags to the contact's tags"),
    ("replace", "Replace the contact's tags with the file's tags"),
]
SEGMENT_MODES = [
    ("none", "Don't add them to a segment"),
    ("existing", "Add them to an existing segment"),
    ("new", "Add them to a new segment"),
]


def label_of(choices: list[tuple[str, str]], value: str | None) -> str:
    """The label of a value among (value, label) choices, or the value itself."""
    return next((label for v, label in choices if v == value), value or "–")


MISSING_NAMES = {"AC": "Ascension Island", "TA": "Tristan da Cunha", "XK": "Kosovo"}
"""Regions phone numbers know that phonenumbers' locale data has no English name for."""


def _sort_key(name: str) -> str:
    """Sort 'Åland Islands' with the A's and 'Côte d'Ivoire' with the C's."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@cache
def countries() -> list[tuple[str, str]]:
    """(ISO code, English name) of every country phone numbers can default to, by name."""
    # Imported here: the locale data weighs about 96 MB, which workers never need.
    from phonenumbers.geodata.locale import LOCALE_DATA

    named = []
    for region in phonenumbers.SUPPORTED_REGIONS:
        names = LOCALE_DATA.get(region, {})
        name = names.get("en") or ""
        while name.startswith("*"):
            name = names.get(name[1:], "")
        named.append((region, f"{name or MISSING_NAMES.get(region, region)} ({region})"))
    return sorted(named, key=lambda item: _sort_key(item[1]))


def countries_for(usual: str | None) -> list[tuple[str, str]]:
    """Every country by name, with the tenant's `usual` one first."""
    everything = countries()
    first = [c for c in everything if c[0] == usual]
    return first + [c for c in everything if c[0] != usual]


def strategy_choices() -> list[tuple[str, str]]:
    """The three duplicate strategies, each as (value, "Title: what happens")."""
    return list(DUPLICATE_STRATEGIES.items())


class UploadForm(FlaskForm):
    """The file to import."""

    file = FileField(
        "File to import",
        validators=[FileRequired("Choose a file to import: CSV, TSV, Excel (.xlsx) or JSON.")],
    )


class SourceForm(FlaskForm):
    """How to read the file when the detected settings are wrong."""

    file_type = SelectField("File type", choices=dict(FILE_TYPES), validate_choice=False)
    encoding = SelectField("Text encoding", choices=dict(ENCODINGS), validate_choice=False)
    delimiter = SelectField("Delimiter", choices=dict(DELIMITERS), validate_choice=False)
    sheet = SelectField("Worksheet", choices={}, validate_choice=False)


def _split_tags(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


class OptionsForm(FlaskForm):
    """What to do with duplicates, which tags and segment, how strictly to check."""

    duplicate_strategy = RadioField(
        "When a contact with the same email already exists", choices=dict(strategy_choices())
    )
    tags = SelectMultipleField("Existing tags", choices={}, validate_choice=False)
    new_tags = StringField(
        "New tags",
        validators=[Optional(), Length(max=1000)],
        description="Separate several tags with commas.",
    )
    segment_mode = RadioField("Segment", choices=dict(SEGMENT_MODES), default="none")
    existing_segment = SelectField("Existing segment", choices={}, validate_choice=False)
    new_segment = StringField("Name of the new segment", validators=[Length(max=200)])
    validate_email = BooleanField("Check that every email address is well formed")
    validate_phone = BooleanField("Refuse rows whose phone number is not a valid number")
    default_region = SelectField(
        "Default phone country",
        choices={},
        validate_choice=False,
        description="Used for numbers written without a country code, e.g. 020 7946 0958.",
    )
    blank_clears = BooleanField("Blank cells clear the existing value")
    new_contact_status = RadioField(
        "New contacts the file gives no status",
        choices={
            "non_subscribed": "Non-subscribed: they are kept, but get no marketing email",
            "subscribed": "Subscribed: they gave permission to receive marketing email",
        },
        default="non_subscribed",
    )
    consent_confirmed = BooleanField(
        "I confirm the contacts in this file gave us permission to send them marketing email"
    )
    suppression_list = BooleanField(
        "This is a suppression list: mark every contact in it unsubscribed"
    )
    tags_mode = RadioField(
        "Tags on existing contacts", choices=dict(TAG_MODE_LABELS), default="add"
    )

    def validate_new_segment(self, field: StringField) -> None:
        """A new segment needs a name."""
        if self.segment_mode.data == "new" and not (field.data or "").strip():
            raise ValidationError("Type a name for the new segment.")

    def validate_consent_confirmed(self, field: BooleanField) -> None:
        """Subscribing new contacts takes the marketer's word that they gave permission."""
        if self.new_contact_status.data == "subscribed" and not field.data:
            raise ValidationError(
                "Tick this box to subscribe new contacts, or choose non-subscribed: only "
                "contacts who gave permission may get marketing email."
            )

    def validate_existing_segment(self, field: SelectField) -> None:
        """An existing segment must be picked from the list."""
        if self.segment_mode.data == "existing" and field.data not in dict(field.choices):
            raise ValidationError("Pick one of your segments.")

    def validate_default_region(self, field: SelectField) -> None:
        """Only countries phone numbers know."""
        if field.data and field.data not in phonenumbers.SUPPORTED_REGIONS:
            raise ValidationError("Pick a country from the list.")

    def chosen_tags(self) -> list[str]:
        """Existing tags ticked plus new ones typed, without case-insensitive repeats."""
        seen: set[str] = set()
        result = []
        for tag in [*(self.tags.data or []), *_split_tags(self.new_tags.data or "")]:
            tag = tag.strip()[:100]
            if tag and tag.casefold() not in seen:
                seen.add(tag.casefold())
                result.append(tag)
        return result

    def segment_name(self) -> str | None:
        """The segment the contacts go into, if any."""
        if self.segment_mode.data == "existing":
            return self.existing_segment.data or None
        if self.segment_mode.data == "new":
            return (self.new_segment.data or "").strip() or None
        return None


def read_rules(form: dict[str, str], names: list[str]) -> dict[str, str]:
    """The per-field update rules posted as `rule-<field>`, ignoring anything unknown."""
    rules = {}
    for name in names:
        rule = form.get(f"rule-{name}", "overwrite")
        if rule in FIELD_RULES and rule != "overwrite":
            rules[name] = rule
    return rules
