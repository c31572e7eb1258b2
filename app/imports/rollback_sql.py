"""The rollback's statements on PostgreSQL: each batch decided and written by the database.

They make the same decisions as the Python walk in `app/imports/rollback.py` (the SQLite way),
over a staged chunk of the journal, with no value travelling to Python;
`tests/imports/test_rollback_in_sql.py` holds the two to the same results.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    Table,
    Uuid,
    func,
    insert,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB

from app.imports.bulk import without_jit
from app.imports.rollback_tally import RollbackTally, keep_many
from app.imports.upsert import STANDARD_FIELDS
from app.models import ImportEvent


def _after_cursor(tally: RollbackTally) -> Any:
    """Journal rows older than the cursor, in the (row_number DESC, id DESC) walk."""
    if not tally.journal_before:
        return None
    row, event_id = tally.journal_before
    # a row comparison: the (job, row, id) index scanned backward from the cursor returns the
    # batch in order (an OR of the two made PostgreSQL read and sort every row below it)
    return tuple_(ImportEvent.row_number, ImportEvent.id) < (row, uuid.UUID(event_id))


def refresh_statistics(conn: Connection) -> None:
    """Have PostgreSQL sample the journal before a rollback reads it (a no-op on SQLite).

    The import that just ran grew the journal far past the statistics autovacuum last took:
    trusting a few rows for the import, PostgreSQL read the whole of its journal and sorted it
    for the first batch (0.2 s at 300,000 rows) instead of scanning the index from the top.
    ANALYZE samples a fixed number of pages, whatever the journal's size.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE import_events")


def next_events(job_id: uuid.UUID, tally: RollbackTally, limit: int, *columns: Any) -> Any:
    """The next `limit` journal rows of a job after the cursor, newest first."""
    query = (
        select(*columns)
        # rows marked reverted by a rollback from before migration 0011 stay done
        .where(ImportEvent.import_job_id == job_id, ImportEvent.reverted_at.is_(None))
        .order_by(ImportEvent.row_number.desc(), ImportEvent.id.desc())
        .limit(limit)
    )
    cursor = _after_cursor(tally)
    return query if cursor is None else query.where(cursor)


# A contact the chunk holds
# twice (rows of two batches) is reverted once per rank, newest first, as the loop above does.
# One test per field the import may have written (a JSON null equals an empty column, as in
# `rollback.changed_since`): building the contact as JSON for every key of every journal row
# was most of a rollback batch's time.
_FIELD_CHANGED = " OR ".join(
    f"(r.new_data ? '{name}' AND r.new_data -> '{name}' IS DISTINCT FROM "
    f"COALESCE(to_jsonb(c.{name}), 'null'::jsonb))"
    for name in STANDARD_FIELDS
)
_CHANGED_SINCE = f"""(
    {_FIELD_CHANGED}
    OR (r.new_data ? 'custom' AND EXISTS (
        SELECT 1 FROM jsonb_each(r.new_data -> 'custom') kv
        WHERE COALESCE(c.custom_fields -> kv.key, 'null') IS DISTINCT FROM kv.value))
)"""  # nosec B608 # built from our own column names at import, never from data; values bound
_HAS_PREVIOUS = "(r.previous_data IS NOT NULL AND r.previous_data <> '{}')"
_OUTCOME = f"""
INSERT INTO rollback_outcome (event_id, contact_id, row_number, rank, outcome)
SELECT r.event_id, r.contact_id, r.row_number, r.rank, COALESCE((
    SELECT CASE
        WHEN c.created_by_import_id = :job THEN 'created'
        WHEN {_HAS_PREVIOUS} AND NOT :force AND {_CHANGED_SINCE} THEN 'kept'
        WHEN {_HAS_PREVIOUS} THEN 'restore'
        WHEN r.new_data IS NOT NULL AND r.new_data <> '{{}}' THEN 'unlink'
        ELSE 'none'
    END
    FROM contacts c WHERE c.id = r.contact_id
), 'gone')
FROM rollback_chunk r WHERE r.rank = :rank
"""  # nosec B608 # built from our own column names at import, never from data; values bound


_CHUNK = Table(  # a temporary table of each connection, not part of the schema
    "rollback_chunk",
    MetaData(),
    Column("event_id", Uuid),
    Column("contact_id", Uuid),
    Column("row_number", Integer),
    Column("previous_data", JSONB),
    Column("new_data", JSONB),
    Column("rank", Integer),
)


def _restored(name: str) -> str:
    cast = "::date" if name in ("consented_on", "unsubscribed_on") else ""
    return (
        f"{name} = CASE WHEN r.previous_data ? '{name}' "
        f"THEN (r.previous_data ->> '{name}'){cast} ELSE c.{name} END"
    )


_RESTORE = f"""
UPDATE contacts c SET {", ".join(_restored(n) for n in STANDARD_FIELDS)},
    custom_fields = CASE WHEN r.previous_data ? 'custom' THEN
        (c.custom_fields || jsonb_strip_nulls(r.previous_data -> 'custom'))
        - ARRAY(SELECT kv.key FROM jsonb_each(r.previous_data -> 'custom') kv
                WHERE kv.value = 'null')
        ELSE c.custom_fields END,
    updated_at = :now
FROM rollback_chunk r JOIN rollback_outcome o ON o.event_id = r.event_id
WHERE r.contact_id = c.id AND r.rank = :rank AND o.outcome = 'restore'
"""  # nosec B608 # built from our own column names at import, never from data; values bound
_LINKED = """
SELECT r.contact_id, jsonb_array_elements_text(r.new_data -> '{key}')::uuid AS other
FROM rollback_chunk r JOIN rollback_outcome o ON o.event_id = r.event_id
WHERE r.rank = :rank AND o.outcome IN ('restore', 'unlink')
"""
_LINKS = (
    f"DELETE FROM contact_tags t USING ({_LINKED.format(key='tags_added')}) x "  # nosec B608 # built from our own column names at import, never from data; values bound
    "WHERE t.contact_id = x.contact_id AND t.tag_id = x.other",
    "INSERT INTO contact_tags (contact_id, tag_id) "  # nosec B608 # built from our own column names at import, never from data; values bound
    f"SELECT x.contact_id, x.other FROM ({_LINKED.format(key='tags_removed')}) x "
    "WHERE EXISTS (SELECT 1 FROM tags WHERE tags.id = x.other) ON CONFLICT DO NOTHING",
    f"DELETE FROM segment_contacts t USING ({_LINKED.format(key='segments_added')}) x "  # nosec B608 # built from our own column names at import, never from data; values bound
    "WHERE t.contact_id = x.contact_id AND t.segment_id = x.other",
)


def revert_in_sql(
    conn: Connection,
    job_id: uuid.UUID,
    tally: RollbackTally,
    force: bool,
    limit: int,
    now: datetime,
) -> tuple[int, list[Any] | None]:
    """Revert the next `limit` journal rows; returns how many and the last one's position."""
    without_jit(conn)
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS rollback_chunk (event_id uuid, contact_id uuid, "
        "row_number int, previous_data jsonb, new_data jsonb, rank int) ON COMMIT DELETE ROWS"
    )
    conn.exec_driver_sql(  # narrow, so that deciding does not copy the journal's JSON again
        "CREATE TEMP TABLE IF NOT EXISTS rollback_outcome (event_id uuid, contact_id uuid, "
        "row_number int, rank int, outcome text) ON COMMIT DELETE ROWS"
    )
    chunk = next_events(
        job_id,
        tally,
        limit,
        ImportEvent.id,
        ImportEvent.contact_id,
        ImportEvent.row_number,
        ImportEvent.previous_data,
        ImportEvent.new_data,
    ).subquery()
    rank = func.row_number().over(
        partition_by=chunk.c.contact_id, order_by=(chunk.c.row_number.desc(), chunk.c.id.desc())
    )
    conn.execute(
        insert(_CHUNK).from_select(
            ["event_id", "contact_id", "row_number", "previous_data", "new_data", "rank"],
            select(
                chunk.c.id,
                chunk.c.contact_id,
                chunk.c.row_number,
                chunk.c.previous_data,
                chunk.c.new_data,
                rank,
            ),
        )
    )
    last = conn.execute(
        text(
            "SELECT row_number, event_id FROM rollback_chunk ORDER BY row_number, event_id LIMIT 1"
        )
    ).first()
    if last is None:
        return 0, None
    count, ranks = conn.execute(text("SELECT count(*), max(rank) FROM rollback_chunk")).one()
    conn.execute(  # lock the contacts, in id order as every writer does
        text(
            "SELECT count(*) FROM (SELECT 1 FROM contacts WHERE id IN "
            "(SELECT contact_id FROM rollback_chunk) ORDER BY id FOR UPDATE) locked"
        )
    )
    params = {"job": job_id, "force": force, "now": now}
    for number in range(1, ranks + 1):
        at = {**params, "rank": number}
        conn.execute(text(_OUTCOME), at)
        conn.execute(text(_RESTORE), at)
        for statement in _LINKS:
            conn.execute(text(statement), at)
    outcomes = dict(
        conn.execute(text("SELECT outcome, count(*) FROM rollback_outcome GROUP BY outcome")).all()
    )
    tally.restored += outcomes.get("restore", 0)
    tally.unlinked += outcomes.get("unlink", 0)
    tally.gone += outcomes.get("gone", 0)
    keep_many(
        conn,
        tally,
        outcomes.get("kept", 0),
        "SELECT c.id, c.email FROM rollback_outcome o JOIN contacts c ON c.id = o.contact_id "
        "WHERE o.outcome = 'kept' ORDER BY o.row_number DESC, o.event_id DESC LIMIT :room",
    )
    return count, [last.row_number, str(last.event_id)]


_UNTOUCHED = """(c.updated_at = c.created_at OR c.updated_at = (
    SELECT max(e.created_at) FROM import_events e
    WHERE e.import_job_id::text = CAST(:job AS text) AND e.contact_id = c.id))"""
# (the import compared as text, so only the contact leads to its rows: see
# `batch_lookups.fetch_earlier_rows`)


def delete_created_in_sql(
    conn: Connection, job_id: uuid.UUID, tally: RollbackTally, force: bool, limit: int
) -> int:
    """`app.imports.rollback.delete_created` in three statements."""
    without_jit(conn)
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS created_chunk (id uuid, deleted bool DEFAULT false) "
        "ON COMMIT DELETE ROWS"
    )
    after = "AND id > :after" if tally.created_after else ""
    params = {"job": job_id, "after": tally.created_after, "limit": limit, "force": force}
    conn.execute(
        text(
            "INSERT INTO created_chunk (id) SELECT id FROM contacts "  # nosec B608 # constant SQL; values bound
            f"WHERE created_by_import_id = :job {after} ORDER BY id LIMIT :limit"
        ),
        params,
    )
    last = conn.execute(text("SELECT id FROM created_chunk ORDER BY id DESC LIMIT 1")).first()
    if last is None:
        return 0
    conn.execute(
        text(
            "WITH gone AS (DELETE FROM contacts c USING created_chunk k "  # nosec B608 # constant SQL
            f"WHERE c.id = k.id AND (:force OR {_UNTOUCHED}) RETURNING c.id) "
            "UPDATE created_chunk k SET deleted = true FROM gone WHERE k.id = gone.id"
        ),
        params,
    )
    for table in ("contact_tags", "segment_contacts"):
        conn.execute(
            text(
                f"DELETE FROM {table} t USING created_chunk k "  # nosec B608 # our table names
                "WHERE t.contact_id = k.id AND k.deleted"
            )
        )
    read, deleted = conn.execute(
        text("SELECT count(*), count(*) FILTER (WHERE deleted) FROM created_chunk")
    ).one()
    keep_many(
        conn,
        tally,
        read - deleted,
        "SELECT c.id, c.email FROM created_chunk k JOIN contacts c ON c.id = k.id "
        "WHERE NOT k.deleted ORDER BY k.id LIMIT :room",
    )
    tally.deleted += deleted
    tally.created_after = str(last.id)
    return read
