"""Checks every request's text input before a view sees it.

A NUL character can never be stored (PostgreSQL refuses it in text and JSON), so a form field,
query parameter, path or JSON string (a `\\u0000` escape) holding one would otherwise fail deep
in a view with a server error. It is refused up front with a 400 and one sentence. Uploaded file
names are not checked here: they are cleaned instead (see `app.storage.clean_file_name`).

A JSON body nested deeper than Python's parser can recurse would fail the same way (a
RecursionError on any URL, before any view): its depth is measured on the raw text first.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import BadRequest

NUL_REFUSED = (
    "The request contained a NUL character (binary data), which cannot be stored: "
    "remove it from what you typed or pasted and try again."
)
MAX_JSON_DEPTH = 64
"""The deepest nesting of lists and objects accepted in JSON from a request (ours use 3)."""
TOO_DEEP_REFUSED = (
    f"The JSON in the request is nested more than {MAX_JSON_DEPTH} levels deep "
    "(lists or objects inside one another): send it with fewer levels."
)
# A JSON string (escapes included; an unterminated one runs to the end) or one bracket.
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


def refuse_nul_characters() -> None:
    """Raise BadRequest when the path, a query parameter, a form field or JSON holds a NUL,
    or when a JSON body is nested too deep to parse."""
    if "\x00" in request.path:
        raise BadRequest(NUL_REFUSED)
    for fields in (request.args, request.form):
        for values in fields.listvalues():
            if any("\x00" in value for value in values):
                raise BadRequest(NUL_REFUSED)
    if not request.is_json:
        return
    if nested_too_deep(request.get_data(cache=True)):
        raise BadRequest(TOO_DEEP_REFUSED)
    if _holds_nul(request.get_json(silent=True)):
        raise BadRequest(NUL_REFUSED)


def nested_too_deep(text: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text opens more than `limit` lists or objects inside one another.

    Read without parsing (parsing is what cannot be trusted with it): brackets inside strings,
    escaped quotes included, do not count. Bytes are decoded as `json.loads` decodes them, so a
    UTF-16 body cannot hide its brackets inside characters whose bytes look like quotes.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode(json.detect_encoding(text), "surrogatepass")
        except UnicodeDecodeError:
            return False  # no parser can read it either: it is refused as malformed JSON
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif token in ("]", "}"):
            depth = max(depth - 1, 0)
    return False


def _holds_nul(value: Any) -> bool:
    """Whether any string (key or value) in a parsed JSON document holds a NUL."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def register(app: Flask) -> None:
    """Run the checks before every request."""
    app.before_request(refuse_nul_characters)
