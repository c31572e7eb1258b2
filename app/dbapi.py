"""The database driver under SQLAlchemy, for what SQLAlchemy does not do: COPY, several
statements in one round trip."""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy import Connection


def driver_connection(conn: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under a SQLAlchemy connection (PostgreSQL only)."""
    raw = conn.connection.driver_connection
    if raw is None:  # only a closed connection has none
        raise RuntimeError("The database connection is closed.")
    return raw  # type: ignore[no-any-return]
