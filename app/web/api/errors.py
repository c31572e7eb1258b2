"""The API's one error shape, `{"error": "...", "details": [{"field": ..., "message": ...}]}`."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from flask_limiter.errors import RateLimitExceeded
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from app.sizes import format_size

log = logging.getLogger(__name__)

MESSAGES = {
    400: "The request could not be understood.",
    401: "Send an API token in the header 'Authorization: Bearer <token>'.",
    403: "This token is not allowed to do this.",
    404: "There is nothing here: the id is wrong, or it was deleted.",
    405: "This URL does not accept that method.",
    409: "This cannot be done in the current state.",
    410: "This is no longer available.",
    413: "The request is larger than the upload limit.",
    415: "Send JSON (Content-Type: application/json) or multipart/form-data.",
    422: "The request has values that cannot be used.",
    429: "Too many requests for this token: wait and try again.",
    500: "Something went wrong on our side; the request was not completed.",
}


class ApiError(Exception):
    """An error answered as JSON with a status, a sentence and the fields at fault."""

    def __init__(
        self, status: int, message: str, details: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []


def field_error(status: int, field: str, message: str) -> ApiError:
    """An ApiError about one field, whose message is also the error's sentence."""
    return ApiError(status, message, [{"field": field, "message": message}])


def error_response(
    status: int, message: str | None = None, details: list[dict[str, str]] | None = None
) -> Response:
    """The JSON response for an error."""
    response = jsonify(
        error=message or MESSAGES.get(status, "The request failed."), details=details or []
    )
    response.status_code = status
    return response


def _location(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a path a person reads: `options.tags[2]`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def validation_details(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """One detail per problem pydantic found, naming the field."""
    details = []
    for problem in exc.errors(include_url=False, include_input=False):
        loc = tuple(part for part in problem["loc"] if part not in ("function-after",))
        field = _location(loc)
        if prefix:
            field = prefix if field == "body" else f"{prefix}.{field}"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "Unknown field: remove it (see /api/docs for the fields this accepts)."
        elif problem["type"] == "missing":
            message = "This field is required."
        details.append({"field": field, "message": message})
    return details


def from_validation_error(exc: ValidationError, prefix: str = "") -> ApiError:
    """An ApiError for a body pydantic refused: 400 for malformed JSON, else 422."""
    if any(p["type"] == "json_invalid" for p in exc.errors(include_url=False)):
        return ApiError(
            400,
            "The request body is not valid JSON: check quotes, commas and brackets.",
            [{"field": prefix or "body", "message": "Malformed JSON."}],
        )
    if any(p["type"] == "model_type" and not p["loc"] for p in exc.errors(include_url=False)):
        return field_error(422, prefix or "body", "Send a JSON object.")
    details = validation_details(exc, prefix)
    return ApiError(422, f"The request has {len(details)} invalid value(s): see details.", details)


def register(bp: Blueprint) -> None:
    """Answer every error raised in the API's views as JSON in the one shape."""

    @bp.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.message, exc.details)

    @bp.errorhandler(RateLimitExceeded)
    def rate_limited(exc: RateLimitExceeded) -> Response:
        response = error_response(
            429, f"Too many requests for this token (limit: {exc.description}): wait and try again."
        )
        return response

    @bp.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        custom = exc.description if exc.description != type(exc).description else None
        if status == 413 and not custom:
            limit = format_size(current_app.config["MAX_CONTENT_LENGTH"])
            custom = f"The request is larger than the upload limit of {limit}: split the file."
        return error_response(status, custom or MESSAGES.get(status))

    @bp.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled API error")
        return error_response(500)
