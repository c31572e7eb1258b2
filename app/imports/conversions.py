"""Turning a cell's text into a custom field's value: text, number, date or yes/no.

One converter per custom field type. A value that does not convert raises `ConversionError`,
whose message finishes the sentence "'<value>' in column '<column>' ..." with what to do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

_NUMBER = re.compile(r"[+-]?(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)?(?:\.[0-9]+)?")
_ISO_DATE = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
    r"(?:[T ][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)
_YMD_SLASH_DATE = re.compile(r"([0-9]{4})/([0-9]{1,2})/([0-9]{1,2})")
_DMY_DOT_DATE = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})")
_SLASH_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
BOOLEANS = {
    "true": True,
    "yes": True,
    "y": True,
    "1": True,
    "on": True,
    "false": False,
    "no": False,
    "n": False,
    "0": False,
    "off": False,
}
_DATE_HINT = "use YYYY-MM-DD, e.g. 2024-05-01"
_NUMBER_MAX_LENGTH = 40


class ConversionError(ValueError):
    """A value that does not convert; the message finishes "'<value>' in column '<c>' ..."."""


def _to_text(value: str) -> str:
    """Text is kept as entered."""
    return value


def _to_number(value: str) -> int | float:
    """An int when whole, else a float; commas only as unambiguous thousands separators."""
    if len(value) > _NUMBER_MAX_LENGTH:
        raise ConversionError(
            f"is too long for a number: numbers can have at most {_NUMBER_MAX_LENGTH} characters."
        )
    if not any(ch.isdigit() for ch in value) or not _NUMBER.fullmatch(value):
        raise ConversionError(
            "is not a number: use digits with an optional minus sign and a decimal point, "
            "e.g. -1234.5."
        )
    if value.count(",") == 1 and "." not in value:
        plain = value.replace(",", "")
        raise ConversionError(
            "could mean two numbers, because the comma may separate thousands or decimals: "
            f"write {plain} or {value.replace(',', '.')}."
        )
    plain = value.replace(",", "")
    whole, _, fraction = plain.partition(".")
    if not fraction.strip("0"):
        return int(whole) if whole not in ("", "+", "-") else 0
    return float(plain)


def _to_date(value: str) -> str:
    """An ISO date string; day-first and month-first dates only when they cannot be confused."""
    if match := _ISO_DATE.fullmatch(value) or _YMD_SLASH_DATE.fullmatch(value):
        year, month, day = match.groups()
    elif match := _DMY_DOT_DATE.fullmatch(value):
        day, month, year = match.groups()
    elif match := _SLASH_DATE.fullmatch(value):
        first, second, year = match.groups()
        if int(first) > 12 >= int(second):
            day, month = first, second
        elif int(second) > 12 >= int(first) or int(first) == int(second):
            month, day = first, second
        elif int(first) > 12:
            raise ConversionError(f"is not a real calendar date: {_DATE_HINT}.")
        else:
            raise ConversionError(
                f"could be day/month or month/day: {_DATE_HINT}, so everyone reads it the same way."
            )
    else:
        raise ConversionError(f"is not a date: {_DATE_HINT}.")
    try:
        return date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        raise ConversionError(f"is not a real calendar date: {_DATE_HINT}.") from None


def _to_boolean(value: str) -> bool:
    """True or False from the usual yes/no spellings."""
    try:
        return BOOLEANS[value.lower()]
    except KeyError:
        raise ConversionError(
            "is not a yes/no value: use true or false (yes/no, y/n, 1/0 and on/off work too)."
        ) from None


CONVERTERS: dict[str, Callable[[str], object]] = {
    "text": _to_text,
    "number": _to_number,
    "date": _to_date,
    "boolean": _to_boolean,
}


def converts(custom_type: str, value: str) -> bool:
    """True when the import would store this value in a custom field of this type."""
    try:
        CONVERTERS[custom_type](value)
    except ConversionError:
        return False
    return True
