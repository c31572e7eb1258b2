"""Bearer-token authentication for the JSON API."""

from __future__ import annotations

from flask import Response, current_app, g, request
from limits import RateLimitItem, parse
from sqlalchemy import select

from app.extensions import db
from app.models import ApiToken, hash_token
from app.models.types import utcnow
from app.web.api.errors import error_response
from app.web.counters import client_network, count, counter, full_for

AUTH_FAILURES = "api-auth-failures"


def unauthorized(message: str) -> Response:
    response = error_response(401, message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="contacts-io"'
    return response


def authenticate_token() -> Response | None:
    """Resolve `Authorization: Bearer <token>` to a user and tenant; an error response if not."""
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return unauthorized("Send an API token in the header 'Authorization: Bearer <token>'.")
    refused = too_many_failures()
    if refused is not None:
        return refused
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == hash_token(raw.strip()))
    )
    if token is None or token.revoked_at is not None or not token.user.active:
        count_failure()
        return unauthorized("This API token is not valid or has been revoked.")
    token.last_used_at = utcnow()
    db.session.commit()
    g.api_token = token
    g.api_user = token.user
    g.tenant_id = token.tenant_id
    return None


def _failure_budget() -> tuple[RateLimitItem, tuple[str, ...]]:
    """API_AUTH_FAILURE_LIMIT and the counter of the client's network."""
    item = parse(current_app.config["API_AUTH_FAILURE_LIMIT"])
    return item, counter(AUTH_FAILURES, client_network())


def too_many_failures() -> Response | None:
    """A 429 when this address presented too many tokens that were not valid in the window.

    Checked before the token is looked up, so rotating made-up tokens costs no database query.
    None when under the limit, and when the counters are unreachable (never a failed request).
    """
    wait = full_for(*_failure_budget())
    if wait is None:
        return None
    response = error_response(
        429,
        "Too many requests with an API token that is not valid came from this address: "
        f"wait {wait} seconds, then send a valid token.",
    )
    response.headers["Retry-After"] = str(wait)
    return response


def count_failure() -> None:
    """Count a token that was not valid against the client's address."""
    count(*_failure_budget())


def rate_limit_key() -> str:
    """Who a request counts against for rate limits: its token, or its address without one."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and raw.strip():
        return "token:" + hash_token(raw.strip())[:32]
    return "address:" + (request.remote_addr or "unknown")
