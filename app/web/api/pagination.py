"""Cursor pagination, newest first: a cursor names the last item of a page (its time and id)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import request
from sqlalchemy import Select, and_, or_

from app.extensions import db
from app.models.types import utcnow
from app.web.api.errors import field_error

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


def page_limit() -> int:
    """The `limit` query parameter: 1 to 100, 25 when absent."""
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise field_error(400, "limit", f"limit must be a whole number from 1 to {MAX_LIMIT}.")
    return int(raw)


def encode_cursor(created_at: datetime, item_id: uuid.UUID) -> str:
    """An opaque cursor for the item after which the next page starts."""
    if created_at.tzinfo is None:  # SQLite gives times back without their (UTC) zone
        created_at = created_at.replace(tzinfo=UTC)
    text = json.dumps([created_at.isoformat(), str(item_id)])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(raw: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = raw + "=" * (-len(raw) % 4)
        created, item_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        when = datetime.fromisoformat(created)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when, uuid.UUID(item_id)
    except (ValueError, TypeError, UnicodeError, binascii.Error, RecursionError):
        raise field_error(
            400, "cursor", "cursor is not one this API gave out: use nextCursor as it came."
        ) from None


def paginate(stmt: Select[Any], model: Any) -> tuple[list[Any], str | None]:
    """One page of `stmt` (rows of `model`), newest first, and the cursor of the next page."""
    limit = page_limit()
    raw = request.args.get("cursor")
    if raw:
        created, item_id = _decode_cursor(raw)
        stmt = stmt.where(
            or_(
                model.created_at < created,
                and_(model.created_at == created, model.id < item_id),
            )
        )
    stmt = stmt.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)
    rows = list(db.session.scalars(stmt))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(last.created_at or utcnow(), last.id)
