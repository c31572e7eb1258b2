"""Spreadsheet cell values as the text a marketer expects, shared by both XLSX readers.

Dates become ISO (`2024-05-01`, `2024-05-01T13:45:00`), whole numbers lose their `.0`,
booleans read `true` and `false`, durations `h:mm:ss`. `serial_value` turns an Excel date
serial into the same Python value python-calamine gives, so both readers print it alike.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

Cell = str | float | int | bool | datetime.date | datetime.time | datetime.timedelta

_PLAIN_WHOLE_LIMIT = 1e16
_EXCEL_EPOCH = datetime.datetime(1899, 12, 30)
_DAYS_1900_TO_1904 = 1462
_MS_PER_DAY = 86_400_000
_WHOLE_LIMIT = 2.0**64


def cell_text(value: Cell) -> str:
    """Text for one cell value."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return bool_text(value)
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, datetime.datetime):
        return _datetime_text(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return _duration_text(value)
    return str(value)


def float_text(value: float) -> str:
    """A float as a person writes it: `12` not `12.0`, `0.0000001` not `1e-07`."""
    if value.is_integer() and -_PLAIN_WHOLE_LIMIT < value < _PLAIN_WHOLE_LIMIT:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        number = Decimal(text)
        if -30 < number.adjusted() < 30:
            return format(number, "f")
    return text


def bool_text(value: bool) -> str:
    """Booleans as `true` / `false`."""
    return "true" if value else "false"


def serial_value(serial: float, duration: bool, date_1904: bool) -> Cell:
    """An Excel date serial as calamine reads it: a duration, a time (below 1), a date or both.

    Follows calamine's rules: milliseconds rounded half away from zero, Excel's phantom
    1900-02-29 (serials below 60 shift a day), and the number itself when no date fits.
    """
    if not math.isfinite(serial):
        return serial
    try:
        if duration:
            return datetime.timedelta(milliseconds=_round_half_away(serial * _MS_PER_DAY))
        days = serial + _DAYS_1900_TO_1904 if date_1904 else serial
        if days < 60:
            days += 1
        moment = _EXCEL_EPOCH + datetime.timedelta(
            milliseconds=_round_half_away(days * _MS_PER_DAY)
        )
    except OverflowError:
        return serial
    if serial < 1.0:
        return moment.time()
    if serial.is_integer() and serial < _WHOLE_LIMIT:
        return moment.date()
    return moment


def _round_half_away(value: float) -> int:
    """Round as Rust's `f64::round` does (halves away from zero), not to even."""
    whole = math.floor(abs(value))
    if abs(value) - whole >= 0.5:
        whole += 1
    return int(math.copysign(whole, value))


def _datetime_text(value: datetime.datetime) -> str:
    """ISO date, with the time only when there is one."""
    if value.time() == datetime.time():
        return value.date().isoformat()
    return value.isoformat(timespec="seconds" if not value.microsecond else "milliseconds")


def _duration_text(value: datetime.timedelta) -> str:
    """A duration as Excel's `[h]:mm:ss`."""
    seconds = round(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{seconds:02d}"


# Exact-type dispatch for row loops; cell_text handles anything else.
TEXT_BY_TYPE: dict[type, Callable[[Any], str]] = {
    float: float_text,
    bool: bool_text,
    int: str,
    datetime.date: datetime.date.isoformat,
    datetime.datetime: _datetime_text,
    datetime.time: datetime.time.isoformat,
    datetime.timedelta: _duration_text,
}
