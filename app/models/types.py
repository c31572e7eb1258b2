"""Column types and defaults shared by every model."""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, Uuid
from sqlalchemy.dialects.postgresql import JSONB

JSONType = JSON().with_variant(JSONB(), "postgresql")
UUIDType = Uuid(as_uuid=True)
Timestamp = DateTime(timezone=True)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (evaluated per row, never at import)."""
    return datetime.now(UTC)


_pool = threading.local()
_POOL_BYTES = 16 * 1024


def new_id() -> uuid.UUID:
    """A fresh random (version 4) primary key.

    Random bytes are drawn from the OS 1,024 ids at a time: one `os.urandom` call per id costs
    more than the rest of an import row on some virtual machines.
    """
    buffer = getattr(_pool, "buffer", b"")
    offset = getattr(_pool, "offset", _POOL_BYTES)
    if offset >= len(buffer):
        buffer, offset = os.urandom(_POOL_BYTES), 0
        _pool.buffer = buffer
    _pool.offset = offset + 16
    return uuid.UUID(bytes=buffer[offset : offset + 16], version=4)
