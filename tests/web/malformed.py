"""Malformed values, and the query strings, form bodies and JSON bodies that carry them.

Values are kept as the bytes a client sends, so a lone surrogate or a byte that is no UTF-8 at
all can be sent percent-encoded, as a test client must.
"""

from __future__ import annotations

import copy
import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_from_bytes

# --- the values --------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    """A malformed value as the bytes a client sends (several: the parameter is repeated)."""

    label: str
    raws: tuple[bytes, ...]

    @classmethod
    def text(cls, label: str, value: str) -> Bad:
        return cls(label, (value.encode(),))


BAD = [
    Bad.text("int64 max", "9223372036854775807"),
    Bad.text("23 digits", "99999999999999999999999"),
    Bad.text("-1", "-1"),
    Bad.text("below int64 min", "-9223372036854775809"),
    Bad.text("1e309", "1e309"),
    Bad.text("NaN", "NaN"),
    Bad.text("superscript two", "²"),
    Bad.text("Arabic-Indic three", "٣"),
    Bad.text("fullwidth twelve", "１２"),
    Bad.text("NUL", "\x00"),
    Bad("lone surrogate (ED A0 80)", (b"\xed\xa0\x80",)),  # \ud800 as a client can send it
    Bad("invalid UTF-8 (FF)", (b"\xff",)),
    Bad.text("100k characters", "x" * 100_000),
    Bad.text("empty", ""),
    Bad("repeated (a list)", (b"1", b"2")),
]
DEEP_JSON = b"[" * 1000 + b"]" * 1000
INFINITY = "__1e309__"  # json.dumps cannot write 1e309; it is put in the text afterwards
WRONG_JSON: dict[str, Any] = {
    "list": ["x"],
    "empty list": [],
    "object": {"a": 1},
    "empty object": {},
    "true": True,
    "null": None,
    "string": "x",
    "-1": -1,
    "int64 max + 1": 9223372036854775808,
    "23 digits": 99999999999999999999999,
    "below int64 min": -9223372036854775809,
    "1.5": 1.5,
    "NaN": float("nan"),
    "1e309": INFINITY,
    "superscript two": "²",
    "lone surrogate": "\ud800",  # sent as the JSON escape "\ud800"
    "100k characters": "x" * 100_000,
}


def json_text(value: Any) -> bytes:
    """JSON as a (lenient) client writes it: NaN as is, 1e309 unrounded, \\ud800 escaped."""
    return json.dumps(value).replace(f'"{INFINITY}"', "1e309").encode()


# --- forms and query strings ----------------------------------------------------------------


def urlencoded(pairs: list[tuple[str, bytes]]) -> str:
    """A query string or form body, each value percent-encoded byte for byte."""
    return "&".join(f"{quote(k, safe='')}={quote_from_bytes(v, safe='')}" for k, v in pairs)


def multipart(pairs: list[tuple[str, Any]]) -> tuple[bytes, str]:
    """A multipart/form-data body; a value (bytes, file name) is a file part."""
    boundary = "malformedboundary1b2c3d"
    body = io.BytesIO()
    for name, value in pairs:
        filename = ""
        if isinstance(value, tuple):
            value, filename = value
            filename = f'; filename="{filename}"'
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'.encode())
        body.write(f"{filename}\r\n\r\n".encode() + value + b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"


def pairs_of(data: dict[str, Any]) -> list[tuple[str, Any]]:
    """Form data as (name, bytes or (bytes, file name)) pairs; a list is a repeated field."""
    pairs: list[tuple[str, Any]] = []
    for name, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name, item if isinstance(item, tuple) else str(item).encode()))
    return pairs


def with_value(pairs: list[tuple[str, Any]], name: str, bad: Bad) -> list[tuple[str, Any]]:
    """The pairs with every value of `name` replaced by the malformed value."""
    return [(k, v) for k, v in pairs if k != name] + [(name, raw) for raw in bad.raws]


# --- JSON bodies -------------------------------------------------------------------------------


def schema_paths(schema: dict[str, Any], doc: dict[str, Any], prefix: tuple = ()) -> Iterator:
    """The path to every documented property of a JSON body, nested objects and lists included."""
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    for option in schema.get("anyOf", []):
        yield from schema_paths(option, doc, prefix)
    if schema.get("type") == "array" and "items" in schema:
        yield from schema_paths(schema["items"], doc, (*prefix, 0))
    for name, sub in schema.get("properties", {}).items():
        yield (*prefix, name)
        yield from schema_paths(sub, doc, (*prefix, name))


def with_json(body: Any, path: tuple, value: Any) -> Any:
    """A copy of `body` with the value at `path` (keys and list indexes) replaced."""
    body = copy.deepcopy(body) if isinstance(body, dict) else {}
    node = body
    for key, following in itertools.pairwise(path):
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(key, int):
            while len(node) <= key:
                node.append(empty)
        elif not isinstance(node.get(key), type(empty)):
            node[key] = empty
        node = node[key]
    if isinstance(path[-1], int):
        node[:] = [value]
    else:
        node[path[-1]] = value
    return body
