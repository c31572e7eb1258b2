"""Error pages for people, JSON errors for the API."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("Bad request", "The request could not be understood. Go back and try again."),
    401: ("Please sign in", "You need to sign in to see this page."),
    403: ("Not allowed", "Your account is not allowed to do this."),
    404: ("Not found", "There is nothing here. It may have been removed, or the link is wrong."),
    405: ("Not allowed", "This page does not accept that kind of request."),
    410: ("Gone", "This is no longer available."),
    413: ("File too large", "The file is larger than the upload limit. Split it and try again."),
    429: ("Too many requests", "Please wait a moment and try again."),
    500: ("Something went wrong", "We could not finish this request. Please try again."),
}


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def _render(code: int, detail: str | None = None) -> tuple[object, int]:
    title, message = MESSAGES.get(code, (f"Error {code}", "The request failed."))
    if request.path.startswith("/api/"):
        from app.web.api.errors import error_response

        return error_response(code, detail), code
    if _wants_json():
        return jsonify(error=detail or message), code
    return render_template(
        "errors/error.html", code=code, title=title, message=detail or message
    ), code


def register(app: Flask) -> None:
    """Install the handlers on the app."""

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Any:
        return _render(
            400,
            "The form expired or was sent from another site. Reload the page and submit it again.",
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if exc.code is None or exc.code < 400:
            return exc
        custom = exc.description if exc.description != type(exc).description else None
        body, code = _render(exc.code, custom)
        allowed = getattr(exc, "valid_methods", None)
        if code == 405 and allowed:  # RFC 9110: a 405 says which methods the URL takes
            return body, code, {"Allow": ", ".join(allowed)}
        return body, code

    @app.errorhandler(Exception)
    def unhandled(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _render(InternalServerError.code)
