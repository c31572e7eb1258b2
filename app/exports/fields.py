"""The fields an export can hold: their labels, kinds, SQL rendering and typed values.

Every selected field is read from the database as text (or NULL), rendered by SQL, so one row
source serves every format: the CSV writer takes the text as it is, the XLSX and JSON writers
take the typed value `typed_row()` makes of it (int, float, bool, date, datetime, list).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, case, cast, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.elements import ColumnElement

from app.models import Contact, Segment, Tag, contact_tags, segment_contacts

LIST_SEPARATOR = "\x1f"
"""Joins the names of a list field (tags, segments) in SQL; never part of a tag name."""

DEFAULT_FIELDS = ["email", "first_name", "last_name", "company", "phone"]

# key -> (label, kind, group)
STANDARD_FIELDS: dict[str, tuple[str, str, str]] = {
    "email": ("Email", "text", "Contact"),
    "first_name": ("First name", "text", "Contact"),
    "last_name": ("Last name", "text", "Contact"),
    "company": ("Company", "text", "Contact"),
    "phone": ("Phone", "text", "Contact"),
    "subscription_status": ("Subscription status", "text", "Contact"),
    "consented_on": ("Consent date", "date", "Contact"),
    "unsubscribed_on": ("Unsubscribe date", "date", "Contact"),
    "tags": ("Tags", "list", "Lists"),
    "segments": ("Segments", "list", "Lists"),
    "emails_opened": ("Emails opened", "integer", "Engagement"),
    "emails_clicked": ("Emails clicked", "integer", "Engagement"),
    "last_engaged_at": ("Last engaged at (UTC)", "datetime", "Engagement"),
    "created_at": ("Created at (UTC)", "datetime", "Record"),
    "updated_at": ("Updated at (UTC)", "datetime", "Record"),
    "id": ("Contact ID", "text", "Record"),
}
CUSTOM_PREFIX = "custom:"
CUSTOM_KINDS = {"text": "text", "number": "number", "date": "date", "boolean": "boolean"}


@dataclass(frozen=True)
class ExportField:
    """One column of an export: its key (`email`, `custom:zip`), header label and value kind."""

    key: str
    label: str
    kind: str  # text | integer | number | boolean | date | datetime | list
    group: str

    @property
    def custom_key(self) -> str | None:
        """The custom field's key for `custom:<key>` fields, else None."""
        return self.key.removeprefix(CUSTOM_PREFIX) if self.is_custom else None

    @property
    def is_custom(self) -> bool:
        """True for a tenant's custom field."""
        return self.key.startswith(CUSTOM_PREFIX)

    @property
    def json_key(self) -> str:
        """The key in JSON exports: the field key; custom fields sit under `custom_fields`."""
        return self.custom_key or self.key


def available_fields(custom_fields: Sequence[tuple[str, str, str]]) -> list[ExportField]:
    """Every field a tenant can export, in the order the form lists them.

    `custom_fields` holds (key, label, type) of the tenant's custom fields.
    """
    standard = [
        ExportField(k, label, kind, group) for k, (label, kind, group) in STANDARD_FIELDS.items()
    ]
    custom = [
        ExportField(
            f"{CUSTOM_PREFIX}{key}", label or key, CUSTOM_KINDS.get(kind, "text"), "Custom fields"
        )
        for key, label, kind in custom_fields
    ]
    contact = [f for f in standard if f.group == "Contact"]
    return contact + custom + [f for f in standard if f.group != "Contact"]


def resolve_fields(keys: Sequence[str], available: Sequence[ExportField]) -> list[ExportField]:
    """The fields for `keys`, in that order; unknown keys (a deleted custom field) are left out.

    Labels that repeat (a custom field labelled "Email") get the key added so headers stay
    distinct.
    """
    by_key = {f.key: f for f in available}
    chosen = [by_key[k] for k in dict.fromkeys(keys) if k in by_key]
    seen: dict[str, int] = {}
    for field in chosen:
        seen[field.label.casefold()] = seen.get(field.label.casefold(), 0) + 1
    return [
        ExportField(f.key, f"{f.label} ({f.custom_key})", f.kind, f.group)
        if f.is_custom and seen[f.label.casefold()] > 1
        else f
        for f in chosen
    ]


# --- SQL: every field rendered as text --------------------------------------------------------


def _timestamp_text(column: Any, dialect: str) -> ColumnElement[str]:
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24:MI:SS")
    return func.strftime("%Y-%m-%d %H:%M:%S", column)


def custom_value_text(key: str, dialect: str) -> ColumnElement[str]:
    """A custom field's value as text: `"12"`, `"true"`, `"2024-05-01"`, NULL when absent."""
    if dialect == "postgresql":
        return Contact.custom_fields.op("->>", return_type=String)(key)
    path = f'$."{key}"'
    kind = func.json_type(Contact.custom_fields, path)
    return case(
        (kind == "true", "true"),
        (kind == "false", "false"),
        else_=cast(func.json_extract(Contact.custom_fields, path), String),
    )


def _names_of(table: Any, name_column: Any, join_on: Any, dialect: str) -> ColumnElement[str]:
    """The names a contact has in a link table, sorted, joined by LIST_SEPARATOR (NULL if none)."""
    links = (
        select(name_column.label("name"))
        .select_from(table.join(name_column.table, join_on))
        .where(table.c.contact_id == Contact.id)
    )
    if dialect == "postgresql":
        ordered = aggregate_order_by(literal(LIST_SEPARATOR), func.lower(name_column).collate("C"))
        return links.with_only_columns(func.string_agg(name_column, ordered)).scalar_subquery()
    # SQLite's group_concat has no ORDER BY: the names are sorted in Python (split_list).
    return links.with_only_columns(func.group_concat(name_column, LIST_SEPARATOR)).scalar_subquery()


def field_sql(field: ExportField, dialect: str) -> ColumnElement[Any]:
    """The SQL expression that reads `field` as text for one contact."""
    if field.is_custom:
        return custom_value_text(field.custom_key or "", dialect)
    key = field.key
    if key == "tags":
        return _names_of(contact_tags, Tag.name, Tag.id == contact_tags.c.tag_id, dialect)
    if key == "segments":
        return _names_of(
            segment_contacts, Segment.name, Segment.id == segment_contacts.c.segment_id, dialect
        )
    column = getattr(Contact, key)
    if field.kind == "datetime":
        return _timestamp_text(column, dialect)
    if field.kind in ("integer", "date") or key == "id":
        return cast(column, String)  # dates as YYYY-MM-DD on both databases
    found: ColumnElement[Any] = column
    return found


# --- values ---------------------------------------------------------------------------------


def split_list(text: str | None) -> list[str]:
    """The names of a list field, sorted case-insensitively (as PostgreSQL already sends them)."""
    if not text:
        return []
    return sorted(text.split(LIST_SEPARATOR), key=str.lower)


def _number(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _boolean(text: str) -> bool | str:
    return {"true": True, "false": False, "1": True, "0": False}.get(text.lower(), text)


def _date(text: str) -> date | str:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return text


def _datetime(text: str) -> datetime | str:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return text


def _integer(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text


_TYPED: dict[str, Callable[[str], Any] | None] = {
    "text": None,
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
    "list": split_list,
}


def typed_row_maker(fields: Sequence[ExportField]) -> Callable[[list[str | None]], list[Any]]:
    """A function turning one text row into typed values (None stays None, lists stay lists)."""
    converters = [(i, _TYPED[f.kind]) for i, f in enumerate(fields) if _TYPED[f.kind]]
    lists = {i for i, f in enumerate(fields) if f.kind == "list"}

    def typed(row: list[str | None]) -> list[Any]:
        values: list[Any] = list(row)
        for index, convert in converters:
            value = values[index]
            if value is not None:
                values[index] = convert(value)  # type: ignore[misc]
            elif index in lists:
                values[index] = []
        return values

    return typed


def csv_row_maker(fields: Sequence[ExportField]) -> Callable[[list[str | None]], list[Any]] | None:
    """A function turning list fields into "a; b" text for CSV, or None when there are none."""
    lists = [i for i, f in enumerate(fields) if f.kind == "list"]
    if not lists:
        return None

    def joined(row: list[str | None]) -> list[Any]:
        for index in lists:
            value = row[index]
            if value:
                row[index] = "; ".join(split_list(value))
        return row

    return joined
