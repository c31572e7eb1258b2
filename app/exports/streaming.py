"""An export's rows out of the database in batches, as a stream: PostgreSQL renders them with
COPY (as text values, or as finished CSV lines) while the writer writes; SQLite streams results.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Select

from app.dbapi import driver_connection
from app.exports.writers import TextRow


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: the batches make no cycles, and it costs a third."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_COPY_ESCAPES = {"\\": "\\", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_COPY_ESCAPE = re.compile(r"\\(.)")


def _copy_value(text: str) -> str | None:
    """One value of PostgreSQL's COPY text format (NULL is `\\N`, specials backslash-escaped)."""
    if text == "\\N":
        return None
    return _COPY_ESCAPE.sub(lambda m: _COPY_ESCAPES.get(m.group(1), m.group(1)), text)


def _copy_rows(conn: Connection, stmt: Select[Any], batch_size: int) -> Iterator[list[TextRow]]:
    """Stream a SELECT through PostgreSQL's COPY: the server renders rows while we write them."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    sql = f"COPY ({compiled.string}) TO STDOUT"
    params = compiled.params
    raw = driver_connection(conn)
    batch: list[TextRow] = []
    with raw.cursor() as cursor, cursor.copy(sql, params) as copy:
        for block in copy:
            line = bytes(block).decode("utf-8")[:-1]
            if "\\" in line:
                batch.append([_copy_value(v) for v in line.split("\t")])
            else:
                batch.append(line.split("\t"))  # type: ignore[arg-type]
            if len(batch) >= batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def stream_rows(
    conn: Connection, stmt: Select[Any], batch_size: int
) -> Generator[list[TextRow], None, None]:
    """The rows of `stmt` in batches, from a server-side stream (COPY on PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        yield from _copy_rows(conn, stmt, batch_size)
        return
    result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(stmt)
    for part in result.partitions():
        yield [list(row) for row in part]


def copy_csv_lines(
    conn: Connection, stmt: Select[Any], batch_size: int
) -> Generator[list[bytes], None, None]:
    """CSV lines written by PostgreSQL (COPY ... FORMAT csv), one message a row, in batches."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    sql = f"COPY ({compiled.string}) TO STDOUT WITH (FORMAT csv)"
    raw = driver_connection(conn)
    batch: list[bytes] = []
    with raw.cursor() as cursor, cursor.copy(sql, compiled.params) as copy:
        for block in copy:
            batch.append(bytes(block)[:-1] + b"\r\n")
            if len(batch) >= batch_size:
                yield batch
                batch = []
    if batch:
        yield batch
