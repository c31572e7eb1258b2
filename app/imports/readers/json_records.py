"""Stream JSON records: a top-level array of objects (ijson) or NDJSON, one object per line.

Nested objects are flattened into dotted columns (`{"address": {"city": "X"}}` gives the column
`address.city`); a list of plain values becomes one cell joined with "; " (a `tags` list maps to
one tags field); a list holding objects or lists is a row error naming the key. null is blank,
booleans are `true`/`false`, numbers keep their written digits except that `1.0` becomes `1`.

The columns are the union of keys in first-seen order, so opening a file makes one streaming
pass to collect them (and to reject malformed or absurdly nested JSON early); rows() then makes
a second pass. Rows are numbered as a person finds them in the file: a JSON array's n-th record
is "Record n", an NDJSON row is "Line n" with n the physical line (blank lines count as lines);
see `SourceInfo.row_label`.
"""

from __future__ import annotations

import codecs
import io
import json
import os
from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager
from decimal import Decimal
from typing import Any, Protocol

import ijson

from app.imports.readers import table
from app.imports.readers.detection import (
    bom_encoding,
    check_encoding_name,
    empty_file_error,
    not_text_error,
    read_sample,
)
from app.imports.readers.json_text import (
    MAX_DEPTH,
    array_error,
    key_too_long,
    not_an_object,
    not_utf8_error,
    scalar_text,
    too_deep,
    value_too_long,
)
from app.imports.readers.table import FileFormatError, ReaderLimits, SourceInfo, SourceRow, Table

ESTIMATE_SAMPLE_BYTES = 1 << 20
_START_EVENTS = frozenset({"start_map", "start_array"})
_END_EVENTS = frozenset({"end_map", "end_array"})


class _ByteSource(Protocol):
    """What ijson reads from: read(size) returning bytes."""

    def read(self, size: int = -1, /) -> bytes: ...


class _TooDeep(Exception):
    """A record nests deeper than MAX_DEPTH."""


class _TokenTooLong(Exception):
    """One JSON token (a string, number or run of spaces) is longer than any sane value."""


class _TokenGuard:
    """A byte stream for ijson that refuses to feed it one token past `limit` bytes.

    ijson's C parser buffers a whole string before it reports it, and the buffer grows
    quadratically: a single 100 MB value takes it most of a minute. The caller sets `pending`
    to 0 after every parse event, so `pending` counts the bytes read since the last one.
    """

    def __init__(self, stream: _ByteSource, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self.pending = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._stream.read(size)
        self.pending += len(data)
        if self.pending > self._limit:
            raise _TokenTooLong
        return data


def token_byte_limit(limits: ReaderLimits) -> int:
    """The most bytes one JSON value may take: four times the cell limit, all escaped."""
    return 4 * limits.max_cell_chars * 6 + 2 * ijson_buffer_size()


def ijson_buffer_size() -> int:
    """The read size ijson uses (its default)."""
    return 64 * 1024


def open_json(
    path: str, *, encoding: str | None = None, limits: ReaderLimits = table.DEFAULT_LIMITS
) -> JsonTable:
    """Open a JSON array or NDJSON file and collect its columns in one streaming pass."""
    sample, _at_eof = read_sample(path)
    encoding = check_encoding_name(encoding) if encoding else json_encoding(sample)
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    text = decoder.decode(sample).lstrip("\ufeff \t\r\n")
    if not text:
        raise empty_file_error()
    if "\x00" in text:
        raise not_text_error()
    json_format = _json_format(text, path, encoding, limits)
    if json_format == "array":
        keys = _scan_array_keys(path, encoding, limits)
    else:
        keys = _scan_ndjson_keys(path, encoding, limits)
    info = SourceInfo(
        file_type="json",
        encoding=encoding,
        headers=table.distinct_headers(keys),
        json_format=json_format,
    )
    return JsonTable(path, info, keys, limits)


class JsonTable(Table):
    """Records of a JSON array or NDJSON file, flattened into rows."""

    def __init__(self, path: str, info: SourceInfo, keys: list[str], limits: ReaderLimits):
        super().__init__(info, limits)
        self._path = path
        self._keys = keys

    def _iter_rows(self) -> Generator[SourceRow, None, None]:
        keys = self._keys
        headers = self.info.headers
        label = self.info.row_label
        for count, (physical, record) in enumerate(self._records(), start=1):
            line = count if physical is None else physical
            where = f"{label} {line}"
            if not isinstance(record, dict):
                yield SourceRow(line, [""] * len(keys), not_an_object(where, record))
                continue
            flat: dict[str, str] = {}
            error = _flatten(record, "", flat, where)
            values = [flat.get(key, "") for key in keys]
            if any("\x00" in value for value in values):
                nul = table.drop_nul_characters(line, values, headers, label)
                error = error or nul
            yield SourceRow(line, values, error)

    def _records(self) -> Iterator[tuple[int | None, Any]]:
        """(physical line or None, parsed record) for every record in the file."""
        encoding = self.info.encoding or "utf-8"
        if self.info.json_format == "ndjson":
            yield from _ndjson_records(self._path, encoding, self._limits)
            return
        with _binary_utf8(self._path, encoding) as stream:
            records = ijson.items(stream, "item")
            count = 0
            while True:
                try:
                    record = next(records)
                except StopIteration:
                    return
                except (ijson.JSONError, ValueError, UnicodeDecodeError) as exc:
                    raise array_error(exc, count) from exc
                count += 1
                yield None, record

    def _release(self) -> None:
        """Nothing to free: each row stream opens and closes its own file handle."""


def count_json_rows(path: str, info: SourceInfo) -> int:
    """Count the records (objects or not) in one pass."""
    encoding = info.encoding or "utf-8"
    if info.json_format == "ndjson":
        return sum(1 for _record in _ndjson_lines(path, encoding, table.DEFAULT_LIMITS))
    return _scan_array(path, encoding, table.DEFAULT_LIMITS, {})


def estimate_json_rows(path: str, info: SourceInfo) -> int:
    """Extrapolate from the records in the first megabyte; exact for smaller files."""
    size = os.path.getsize(path)
    if size <= ESTIMATE_SAMPLE_BYTES:
        return count_json_rows(path, info)
    with open(path, "rb") as raw:
        sample = raw.read(ESTIMATE_SAMPLE_BYTES)
    decoder = codecs.getincrementaldecoder(info.encoding or "utf-8")(errors="replace")
    text = decoder.decode(sample).lstrip("\ufeff")
    if info.json_format == "ndjson":
        lines = text[: text.rfind("\n") + 1].splitlines()
        records = sum(1 for line in lines if line.strip())
    else:
        records = _records_in_prefix(text.encode("utf-8"))
    return round(records * size / ESTIMATE_SAMPLE_BYTES)


def _records_in_prefix(utf8: bytes) -> int:
    """Records that start within the first part of a JSON array (it may be cut anywhere)."""
    records = 0
    depth = 0
    try:
        for event, _value in ijson.basic_parse(io.BytesIO(utf8)):
            if event in _START_EVENTS:
                depth += 1
                records += depth == 2
            elif event in _END_EVENTS:
                depth -= 1
            elif depth == 1:
                records += 1
    except (ijson.JSONError, ValueError):
        return records
    return records


def json_encoding(sample: bytes) -> str:
    """JSON is UTF-8 unless a byte-order mark says UTF-16 or UTF-32 (RFC 8259)."""
    return bom_encoding(sample) or "utf-8"


def _json_format(text: str, path: str, encoding: str, limits: ReaderLimits) -> str:
    """ "array" or "ndjson" from the start of the text, or explain why it is neither."""
    if text[0] == "[":
        return "array"
    if text[0] == "{":
        with closing(_ndjson_lines(path, encoding, limits)) as lines:
            _physical, first_line = next(lines, (0, ""))
        try:
            complete = isinstance(json.loads(first_line), dict)
        except RecursionError as exc:
            raise too_deep(1, 1) from exc
        except ValueError:
            complete = False
        if complete:
            return "ndjson"
        raise FileFormatError(
            "This JSON file holds a single object, not a list of records: put the records in "
            'a list like [{"email": "..."}, {"email": "..."}] or write one object per line.'
        )
    raise FileFormatError(
        "This JSON file does not hold a list of records: it must be a list of objects like "
        '[{"email": "..."}, {"email": "..."}] or have one object per line.'
    )


def _scan_array_keys(path: str, encoding: str, limits: ReaderLimits) -> list[str]:
    """Stream a JSON array once to collect the flattened keys in first-seen order."""
    keys: dict[str, None] = {}
    records = _scan_array(path, encoding, limits, keys)
    if records == 0:
        raise FileFormatError(
            "The file is empty: the JSON list has no records. "
            "Check you exported the right file and upload it again."
        )
    return _checked_keys(keys, limits)


def _scan_array(path: str, encoding: str, limits: ReaderLimits, keys: dict[str, None]) -> int:
    """Walk the parse events of a top-level array, adding column names to `keys`.

    Uses ijson's prefix-free basic_parse so nesting costs nothing until the depth check trips
    (ijson's prefixed parsers use memory quadratic in depth). Returns the record count.
    """
    # The open container: whether its keys become columns (a record, or an object nested in
    # one outside any list), the column prefix of its keys and its current key. The stack
    # holds the same for every enclosing container inside the top-level array.
    collecting, prefix, key = False, "", ""
    stack: list[tuple[bool, str, str]] = []
    records = 0
    max_key = limits.max_cell_chars
    try:
        with _binary_utf8(path, encoding) as stream:
            guard = _TokenGuard(stream, token_byte_limit(limits))
            events = ijson.basic_parse(guard, buf_size=ijson_buffer_size())
            if next(events, ("", None))[0] != "start_array":
                raise FileFormatError(
                    "This JSON file does not hold a list of records: it must be a list "
                    'of objects like [{"email": "..."}, {"email": "..."}].'
                )
            for event, value in events:
                guard.pending = 0
                if event == "map_key":
                    if collecting:
                        if len(value) > max_key:
                            raise key_too_long(records, max_key)
                        key = value
                elif event in _START_EVENTS:
                    if not stack:
                        records += 1
                    elif len(stack) >= MAX_DEPTH:
                        raise too_deep(records)
                    stack.append((collecting, prefix, key))
                    if event == "start_map" and (collecting or len(stack) == 1):
                        prefix = f"{prefix}{key}." if collecting else ""
                        collecting, key = True, ""
                    else:
                        if collecting and prefix + key not in keys:
                            _add_column(keys, prefix + key, limits)
                        collecting = False
                elif event in _END_EVENTS:
                    if stack:
                        collecting, prefix, key = stack.pop()
                elif collecting:
                    if prefix + key not in keys:
                        _add_column(keys, prefix + key, limits)
                elif not stack:
                    records += 1
    except _TokenTooLong as exc:
        raise value_too_long(max(records, 1), token_byte_limit(limits)) from exc
    except (ijson.JSONError, ValueError, UnicodeDecodeError) as exc:
        raise array_error(exc, records - 1 if stack else records) from exc
    return records


def _add_column(keys: dict[str, None], name: str, limits: ReaderLimits) -> None:
    """Record a new column name, refusing more columns than the limit."""
    keys[name] = None
    if len(keys) > limits.max_columns:
        raise _too_many_fields(limits)


def _too_many_fields(limits: ReaderLimits) -> FileFormatError:
    """The error for records whose fields add up to more columns than the limit.

    The file is refused as soon as the limit is passed, so the message cannot give the total.
    """
    return FileFormatError(
        f"The JSON records have more than {limits.max_columns:,} different fields, the most one "
        "import can take as columns: remove the fields you don't need and upload it again."
    )


def _scan_ndjson_keys(path: str, encoding: str, limits: ReaderLimits) -> list[str]:
    """Read every NDJSON line once to check it and collect the flattened keys."""
    keys: dict[str, None] = {}
    records = 0
    for physical, record in _ndjson_records(path, encoding, limits):
        records += 1
        if isinstance(record, dict):
            try:
                _collect_keys(record, "", keys, 1)
            except _TooDeep as exc:
                raise too_deep(records, physical) from exc
            if len(keys) > limits.max_columns:
                raise _too_many_fields(limits)
    if records == 0:
        raise empty_file_error()
    return _checked_keys(keys, limits)


def _checked_keys(keys: dict[str, None], limits: ReaderLimits) -> list[str]:
    """The collected keys as a list, refusing none or too many."""
    if not keys:
        raise FileFormatError(
            "The JSON records have no fields: each record must be an object like "
            '{"email": "..."}. Check you exported the right file and upload it again.'
        )
    table.check_column_count(len(keys), limits)
    return list(keys)


def _collect_keys(record: dict[str, Any], prefix: str, keys: dict[str, None], depth: int) -> None:
    """Add the flattened column names of one parsed object, in order."""
    if depth > MAX_DEPTH:
        raise _TooDeep
    for key, value in record.items():
        kind = type(value)
        if kind is dict:
            _collect_keys(value, f"{prefix}{key}.", keys, depth + 1)
            continue
        if kind is list and _nesting(value, depth + 1) > MAX_DEPTH:
            raise _TooDeep
        if prefix + key not in keys:
            keys[prefix + key] = None


def _nesting(value: Any, depth: int) -> int:
    """The deepest level reached inside value, stopping once past MAX_DEPTH."""
    if depth > MAX_DEPTH or not isinstance(value, dict | list):
        return depth
    children = value.values() if isinstance(value, dict) else value
    deepest = depth
    for child in children:
        if isinstance(child, dict | list):
            deepest = max(deepest, _nesting(child, depth + 1))
            if deepest > MAX_DEPTH:
                break
    return deepest


def _ndjson_records(path: str, encoding: str, limits: ReaderLimits) -> Iterator[tuple[int, Any]]:
    """(physical line, parsed value) for each non-blank NDJSON line."""
    for count, (physical, line) in enumerate(_ndjson_lines(path, encoding, limits), start=1):
        try:
            record = json.loads(line, parse_float=Decimal)
        except RecursionError as exc:
            raise too_deep(count, physical) from exc
        except ValueError as exc:
            raise FileFormatError(
                f"Line {physical:,} of the file is not valid JSON: "
                "each line must hold one complete object. Fix that line and upload the file again."
            ) from exc
        yield physical, record


def _ndjson_lines(
    path: str, encoding: str, limits: ReaderLimits
) -> Generator[tuple[int, str], None, None]:
    """(physical line number, text) of each non-blank line, refusing absurdly long lines."""
    limit = limits.max_columns * (limits.max_cell_chars + 8)
    physical = 0
    with open(path, "rb") as raw, io.TextIOWrapper(raw, encoding=encoding) as text:
        readline = text.readline
        while True:
            try:
                line = readline(limit)
            except UnicodeDecodeError as exc:
                raise not_utf8_error(f"line {physical + 1:,}") from exc
            if not line:
                return
            physical += 1
            if len(line) == limit and not line.endswith("\n"):
                raise FileFormatError(
                    f"Line {physical:,} of the file is longer than {limit:,} characters: "
                    "check the file and upload it again."
                )
            if line.strip():
                yield physical, line


@contextmanager
def _binary_utf8(path: str, encoding: str) -> Iterator[_ByteSource]:
    """The file as UTF-8 bytes for ijson: BOM skipped, UTF-16/32 re-encoded on the fly."""
    with open(path, "rb") as raw:
        if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig"):
            if raw.read(3) != codecs.BOM_UTF8:
                raw.seek(0)
            yield raw
            return
        with io.TextIOWrapper(raw, encoding=encoding) as text:
            yield _Utf8Recoder(text)


class _Utf8Recoder:
    """A read()-only byte stream that re-encodes a text stream as UTF-8."""

    def __init__(self, text: io.TextIOWrapper) -> None:
        self._text = text

    def read(self, size: int = -1, /) -> bytes:
        if size == 0:
            return b""
        return self._text.read(size if size < 0 else max(size // 4, 1)).encode("utf-8")


def _flatten(record: dict[str, Any], prefix: str, flat: dict[str, str], where: str) -> str | None:
    """Put the record's cells into `flat` under dotted names; return the first row error."""
    error = None
    for key, value in record.items():
        name = prefix + key
        if isinstance(value, str):
            flat[name] = value
        elif isinstance(value, dict):
            error = _flatten(value, f"{name}.", flat, where) or error
        elif isinstance(value, list):
            if any(isinstance(item, dict | list) for item in value):
                error = error or (
                    f'{where}: the field "{name}" holds a list of objects or lists, which cannot '
                    'go into one column; only lists of plain values are joined with "; ".'
                )
                flat[name] = ""
            else:
                flat[name] = "; ".join(scalar_text(item) for item in value if item is not None)
        else:
            flat[name] = scalar_text(value)
    return error
