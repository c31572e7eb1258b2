"""What the first rows of a column hold: how many values are filled, emails, phones, dates...

Mapping suggestions read these counts: a column of email addresses is the Email column whatever
its header says, an empty column is never suggested, and a new custom field gets the type its
values have. The checks are cheap shape tests on a few dozen values, not full validation; dates,
numbers and yes/no values are tested with the same converters the import uses, so a type
suggested here is one every sampled value converts to.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.imports.consent import status_reader
from app.imports.conversions import ConversionError, converts

_EMAIL = re.compile(r"[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[^@\s<>(),;:\"]{2,}")
_PHONE = re.compile(r"\+?[0-9 ().\-/]{7,24}")
_PHONE_START = re.compile(r"\s*(?:\+|00|0|\()")
_SEPARATED = re.compile(r"[0-9][ .\-/)][0-9(]")
_AMOUNT = re.compile(r"[+-]?[0-9]+[.,][0-9]{1,3}|[+-]?[0-9]+\.[0-9]+")  # 12,50 or -0.127758
_IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_PADDED_ID = re.compile(r"00[0-9]*")  # 00000012: an id with its zeros, not a phone
SUGGESTION_SAMPLE_ROWS = 50
"""How many first rows of a file the suggestions read."""
TYPE_SHARE = 1.0
"""Share of filled values that must convert for a custom field type to be suggested: all of
them, so the suggested type refuses no sampled row."""
KIND_SHARE = 0.8
"""Share of filled values that must look like emails (or phones) to call the column so."""


@dataclass(frozen=True)
class ColumnValues:
    """Counts over a column's sampled values."""

    sampled: int
    filled: int
    emails: int
    phones: int
    dates: int
    numbers: int
    booleans: int
    statuses: int

    @property
    def empty(self) -> bool:
        """No value at all in the sampled rows."""
        return self.filled == 0

    def mostly(self, count: int, share: float = KIND_SHARE) -> bool:
        """True when `count` is at least this share of the filled values."""
        return self.filled > 0 and count >= share * self.filled

    def value_type(self) -> str:
        """The custom field type every (or nearly every) sampled value has."""
        if self.mostly(self.booleans, TYPE_SHARE):
            return "boolean"
        if self.mostly(self.dates, TYPE_SHARE):
            return "date"
        if self.mostly(self.numbers, TYPE_SHARE):
            return "number"
        return "text"


def looks_like_phone(value: str) -> bool:
    """7 to 15 digits written as phone numbers are: with +, 00, 0 or ( first, or grouped."""
    if not _PHONE.fullmatch(value):
        return False
    digits = sum(ch.isdigit() for ch in value)
    if not 7 <= digits <= 15 or converts("date", value):
        return False
    if _AMOUNT.fullmatch(value) or _IPV4.fullmatch(value) or _PADDED_ID.fullmatch(value):
        return False
    return bool(_PHONE_START.match(value) or _SEPARATED.search(value))


def _is_number(value: str) -> bool:
    """A number, but not digits with a leading zero (postal codes, ids), which stay text."""
    plain = value.lstrip("+-")
    if len(plain) > 1 and plain[0] == "0" and plain[1].isdigit():
        return False
    return converts("number", value)


def profile(values: Sequence[str]) -> ColumnValues:
    """Count what the sampled values of one column look like."""
    filled = [v.strip() for v in values if v and v.strip()]
    words = [v for v in filled if not v.isdigit()]
    return ColumnValues(
        sampled=len(values),
        filled=len(filled),
        emails=sum(1 for v in filled if _EMAIL.fullmatch(v)),
        phones=sum(1 for v in filled if looks_like_phone(v)),
        dates=sum(1 for v in filled if converts("date", v)),
        numbers=sum(1 for v in filled if _is_number(v)),
        booleans=sum(1 for v in words if converts("boolean", v)),
        statuses=sum(1 for v in filled if _is_status(v)),
    )


_READ_STATUS = status_reader("")


def _is_status(value: str) -> bool:
    """A value a subscription status column could hold (a status word or yes/no)."""
    try:
        _READ_STATUS(value)
    except ConversionError:
        return False
    return True


def profile_columns(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[ColumnValues]:
    """One profile per column of sampled rows (short rows count as blank cells)."""
    return [
        profile([row[index] if index < len(row) else "" for row in rows])
        for index in range(len(headers))
    ]
