"""Checks every request's text input before a view sees it.

A NUL character can never be stored (PostgreSQL refuses it in text and JSON), so a form field,
query parameter, path or JSON string (a `\\u0000` escape) holding one would otherwise fail deep
in a view with a server error. It is refused up front with a 400 and one sentence. Uploaded file
names are not checked here: they are cleaned instead (see `app.storage.clean_file_name`).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from werkzeug.exceptions import BadRequest

NUL_REFUSED = (
    "The request contained a NUL character (binary data), which cannot be stored: "
    "remove it from what you typed or pasted and try again."
)


def refuse_nul_characters() -> None:
    """Raise BadRequest when the path, a query parameter, a form field or JSON holds a NUL."""
    if "\x00" in request.path:
        raise BadRequest(NUL_REFUSED)
    for fields in (request.args, request.form):
        for values in fields.listvalues():
            if any("\x00" in value for value in values):
                raise BadRequest(NUL_REFUSED)
    if request.is_json and _holds_nul(request.get_json(silent=True)):
        raise BadRequest(NUL_REFUSED)


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
