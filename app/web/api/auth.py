"""Bearer-token authentication for the JSON API."""

from __future__ import annotations

from flask import Response, g, request
from sqlalchemy import select

from app.extensions import db
from app.models import ApiToken, hash_token
from app.models.types import utcnow
from app.web.api.errors import error_response


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
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == hash_token(raw.strip()))
    )
    if token is None or token.revoked_at is not None or not token.user.active:
        return unauthorized("This API token is not valid or has been revoked.")
    token.last_used_at = utcnow()
    db.session.commit()
    g.api_token = token
    g.api_user = token.user
    g.tenant_id = token.tenant_id
    return None


def rate_limit_key() -> str:
    """Who a request counts against for rate limits: its token, or its address without one."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and raw.strip():
        return "token:" + hash_token(raw.strip())[:32]
    return "address:" + (request.remote_addr or "unknown")
