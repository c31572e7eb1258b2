"""A JSON file's values as cell text, and the messages for what makes a JSON file unreadable
(`json_records` reads the file)."""

from __future__ import annotations

from decimal import Decimal

from app.imports.readers.table import FileFormatError

MAX_DEPTH = 32


def scalar_text(value: object) -> str:
    """Text for a JSON scalar."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return decimal_text(value)
    return str(value)


def decimal_text(number: Decimal) -> str:
    """A JSON number as written, except `1.0` -> `1` and `1E-7` -> `0.0000001`."""
    if not number.is_finite():
        return str(number)
    if number.is_zero():
        return "0"
    if -30 < number.adjusted() < 30:
        if number == number.to_integral_value():
            # every digit written out (quantize would fail past the context's 28 digits)
            return format(number.to_integral_value(), "f")
        text = str(number)
        return format(number, "f") if "E" in text else text
    return str(number)


def not_an_object(where: str, value: object) -> str:
    """The row error for a record that is not a JSON object."""
    kinds = {list: "a list", str: "text", bool: "true/false", type(None): "null"}
    kind = kinds.get(type(value), "a number")
    return f'{where} is {kind}, not an object: each record must look like {{"email": "..."}}.'


def too_deep(record: int, physical: int | None = None) -> FileFormatError:
    """The error for a record nested past MAX_DEPTH, naming its NDJSON line when it has one."""
    where = f"Line {physical:,}" if physical else f"Record {record:,}"
    return FileFormatError(
        f"{where} is nested more than {MAX_DEPTH} levels deep, more than a contact can be: "
        "check you exported the right file and upload it again."
    )


def value_too_long(record: int, limit: int) -> FileFormatError:
    """The error for a single JSON value longer than any contact field could be."""
    return FileFormatError(
        f"Record {record:,} holds a single value of more than {limit // 1024:,} KB, far longer "
        "than any contact field: check you exported the right file and upload it again."
    )


def key_too_long(records: int, limit: int) -> FileFormatError:
    """The error for an absurdly long field name."""
    return FileFormatError(
        f"Record {max(records, 1):,} has a field name longer than {limit:,} characters: "
        "check you exported the right file and upload it again."
    )


def not_utf8_error(where: str) -> FileFormatError:
    """The error for bytes that are not valid text in the file's encoding."""
    return FileFormatError(
        f"The JSON file is not valid UTF-8 text (the problem starts at {where}): "
        "re-save it as UTF-8 and upload it again."
    )


def array_error(exc: Exception, complete: int) -> FileFormatError:
    """Explain an ijson failure that came after `complete` whole records."""
    message = str(exc)
    if isinstance(exc, UnicodeDecodeError) or "UTF8" in message:
        return not_utf8_error(f"record {complete + 1:,}")
    if "premature EOF" in message:
        return FileFormatError(
            f"The JSON file ends unexpectedly after record {complete:,}: it may have been cut "
            "off. Export it again and upload the complete file."
        )
    if "trailing garbage" in message:
        return FileFormatError(
            "The JSON file has extra content after its closing ]: remove it and upload the "
            "file again."
        )
    return FileFormatError(
        f"The JSON file is malformed after record {complete:,} (a missing comma, quote or "
        "bracket?): fix it and upload the file again."
    )
