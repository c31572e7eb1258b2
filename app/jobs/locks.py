"""One worker per job: a PostgreSQL advisory lock held while a job runs."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Protocol, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from app.extensions import db

log = logging.getLogger(__name__)


class _Job(Protocol):
    @property
    def id(self) -> uuid.UUID: ...


J = TypeVar("J", bound=_Job)


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


def run_alone(job: J, what: str, run: Callable[[], J]) -> J:
    """`run()` under the job's lock; the job as it is when another worker holds the lock
    (that worker is running it: this one leaves it alone)."""
    with job_lock(job.id) as acquired:
        if not acquired:
            log.info("%s %s is being run by another worker; leaving it to it", what, job.id)
            return job
        return run()
