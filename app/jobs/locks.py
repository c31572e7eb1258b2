"""One worker per job: a PostgreSQL advisory lock held while a job runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from app.extensions import db


@contextmanager
def job_lock(job_id: uuid.UUID) -> Iterator[bool]:
    """Hold a PostgreSQL advisory lock on a job while it runs, so two workers never run one job.

    The lock lives on its own connection: if the worker dies, PostgreSQL releases it. So a job
    marked running whose lock is free has lost its worker. On SQLite it always yields True.
    """
    if db.engine.dialect.name != "postgresql":
        yield True
        return
    key = job_id.int & 0x7FFF_FFFF_FFFF_FFFF
    with db.engine.connect() as conn:
        acquired = bool(conn.execute(select(func.pg_try_advisory_lock(key))).scalar())
        try:
            yield acquired
        finally:
            # A lost connection has released the lock already: that is no error of the job's.
            with suppress(DBAPIError):
                if acquired:
                    conn.execute(select(func.pg_advisory_unlock(key)))
                conn.commit()
