"""Column types and defaults shared by every model."""

from __future__ import annotations

import os
import threading
import time
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
    """A fresh primary key: time-ordered (UUID version 7: 48 bits of milliseconds, then random).

    Keys that grow with time are appended to the right edge of the primary-key indexes instead of
    landing on a random page each, which keeps bulk inserts of millions of rows in cache. Random
    bytes are drawn from the OS 1,024 ids at a time: one `os.urandom` call per id costs more than
    the rest of an import row on some virtual machines.
    """
    buffer = getattr(_pool, "buffer", b"")
    offset = getattr(_pool, "offset", _POOL_BYTES)
    if offset >= len(buffer):
        buffer, offset = os.urandom(_POOL_BYTES), 0
        _pool.buffer = buffer
    _pool.offset = offset + 16
    random_bits = int.from_bytes(buffer[offset : offset + 10], "big") & _RANDOM_74
    millis = time.time_ns() // 1_000_000
    value = (
        (millis & _MILLIS_48) << 80
        | 0x7 << 76
        | (random_bits >> 62) << 64
        | 0b10 << 62
        | (random_bits & _LOW_62)
    )
    return uuid.UUID(int=value)


def _forget_pool() -> None:
    """A forked child draws its own random bytes: the parent's pool would give it the same ids."""
    _pool.__dict__.clear()


os.register_at_fork(after_in_child=_forget_pool)

_MILLIS_48 = (1 << 48) - 1
_RANDOM_74 = (1 << 74) - 1
_LOW_62 = (1 << 62) - 1
