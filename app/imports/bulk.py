"""Bulk statements that are fast on PostgreSQL and still work on SQLite.

On PostgreSQL the rows of a bulk write are streamed with COPY into a temporary staging table
(no constraints, emptied at commit), then applied with one INSERT ... SELECT ... ON CONFLICT,
UPDATE ... FROM or DELETE ... USING: a batch of thousands of rows costs a few round trips and
no per-row statements. On SQLite (in-process, no round trips) the same calls are executemany.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import JSON, Column, ColumnElement, Connection, Table, and_, any_, bindparam, delete
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import ARRAY

from app.dbapi import driver_connection


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def without_jit(conn: Connection) -> None:
    """Turn PostgreSQL's JIT compiler off for this transaction (a no-op elsewhere).

    A batch's statements on large tables are estimated above `jit_above_cost`, and compiling
    them (inlining, optimization) took longer than running them: each batch paid it again.
    """
    if _is_pg(conn):
        conn.exec_driver_sql("SET LOCAL jit = off")


def one_of(
    conn: Connection, column: Column[Any] | Any, values: Iterable[Any]
) -> ColumnElement[bool]:
    """`column IN values`, as `= ANY(array)` on PostgreSQL (one cached plan for any length)."""
    values = list(values)
    if _is_pg(conn):
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def _is_json(column: Column[Any]) -> bool:
    return isinstance(column.type, JSON) or isinstance(getattr(column.type, "impl", None), JSON)


def _copy(
    conn: Connection,
    table: Table,
    target: str,
    names: Sequence[str],
    rows: Sequence[dict[str, Any]],
) -> None:
    """Stream rows into `target` (this table or its staging table) with one COPY."""
    raw = driver_connection(conn)
    json_columns = [i for i, n in enumerate(names) if _is_json(table.c[n])]
    sql = f'COPY "{target}" ({_quoted(names)}) FROM STDIN'
    with raw.cursor() as cur, cur.copy(sql) as copy:
        write = copy.write_row
        if not json_columns:
            for row in rows:
                write([row[n] for n in names])
            return
        dumps = json.JSONEncoder(default=str, separators=(",", ":")).encode
        for row in rows:
            values = [row[n] for n in names]
            for i in json_columns:
                if values[i] is not None:
                    values[i] = dumps(values[i])
            write(values)


def _stage(
    conn: Connection, table: Table, names: Sequence[str], rows: Sequence[dict[str, Any]]
) -> str:
    """COPY rows into a temporary table with just these columns; returns its name."""
    digest = hashlib.blake2s(",".join(names).encode(), digest_size=4).hexdigest()
    stage = f"stage_{table.name}_{digest}"
    raw = driver_connection(conn)
    with raw.cursor() as cur:
        cur.execute(
            f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" ON COMMIT DELETE ROWS AS '  # nosec B608 # identifiers: our own table and column names, never a file's; values: COPY
            f'SELECT {_quoted(names)} FROM "{table.name}" WITH NO DATA'
        )
        cur.execute(f'DELETE FROM "{stage}"')  # nosec B608 # identifiers: our own table and column names, never a file's; values: COPY
    _copy(conn, table, stage, names, rows)
    return stage


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def insert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    conflict: Sequence[str] | None = None,
    returning: str | None = None,
) -> list[Any]:
    """Insert rows (all with the same keys); skip conflicts on `conflict` columns when given.

    Returns the `returning` column of the rows actually inserted. Without `conflict` and
    `returning`, PostgreSQL gets the rows by COPY straight into the table: a duplicate key then
    fails the statement (the caller's transaction), it is never skipped silently.
    """
    if not rows:
        return []
    names = list(rows[0])
    if _is_pg(conn) and not conflict and not returning:
        _copy(conn, table, table.name, names, rows)
        return []
    if _is_pg(conn):
        stage = _stage(conn, table, names, rows)
        sql = (
            f'INSERT INTO "{table.name}" ({_quoted(names)}) SELECT {_quoted(names)} FROM "{stage}"'  # nosec B608 # identifiers: our own table and column names, never a file's; values: COPY
        )
        if conflict:
            sql += f" ON CONFLICT ({_quoted(conflict)}) DO NOTHING"
        if returning:
            sql += f' RETURNING "{returning}"'
            return [r[0] for r in conn.exec_driver_sql(sql)]
        conn.exec_driver_sql(sql)
        return []
    stmt = sqlite.insert(table)
    if conflict:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
    if returning:
        return [r[0] for r in conn.execute(stmt.returning(table.c[returning]), list(rows))]
    conn.execute(stmt, list(rows))
    return []


def update_rows(conn: Connection, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """Set the given columns of many rows, matched on `key` (every row has the same keys)."""
    if not rows:
        return
    names = list(rows[0])
    columns = [n for n in names if n != key]
    if _is_pg(conn):
        stage = _stage(conn, table, names, rows)
        assignments = ", ".join(f'"{n}" = v."{n}"' for n in columns)
        conn.exec_driver_sql(
            f'UPDATE "{table.name}" AS t SET {assignments} FROM "{stage}" AS v '  # nosec B608 # identifiers: our own table and column names, never a file's; values: COPY
            f'WHERE t."{key}" = v."{key}"'
        )
        return
    stmt = (
        table.update()
        .where(table.c[key] == bindparam(f"_{key}"))
        .values({n: bindparam(f"_{n}", type_=table.c[n].type) for n in columns})
    )
    conn.execute(stmt, [{f"_{k}": v for k, v in row.items()} for row in rows])


def delete_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Delete the rows whose columns equal each given dict (e.g. link-table pairs)."""
    if not rows:
        return
    names = list(rows[0])
    if _is_pg(conn):
        stage = _stage(conn, table, names, rows)
        match = " AND ".join(f't."{n}" = v."{n}"' for n in names)
        conn.exec_driver_sql(f'DELETE FROM "{table.name}" AS t USING "{stage}" AS v WHERE {match}')  # nosec B608 # identifiers: our own table and column names, never a file's; values: COPY
        return
    stmt = delete(table).where(and_(*(table.c[n] == bindparam(f"_{n}") for n in names)))
    conn.execute(stmt, [{f"_{k}": v for k, v in row.items()} for row in rows])
