"""The rollback's statements on PostgreSQL: each batch decided and written by the database.

They make the same decisions as the Python walk in `app/imports/rollback.py` (the SQLite way),
over a staged chunk of the journal, with no value travelling to Python;
`tests/imports/test_rollback_in_sql.py` holds the two to the same results.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    MetaData,
    Table,
    Uuid,
    case,
    func,
    insert,
    select,
    text,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB

from app.imports.bulk import without_jit
from app.imports.rollback_tally import RollbackStep, RollbackTally, count_kept, keep_many
from app.imports.upsert import STANDARD_FIELDS
from app.models import Contact, ImportEvent


def _after_cursor(tally: RollbackTally) -> Any:
    """Journal rows older than the cursor, in the (row_number DESC, id DESC) walk."""
    if not tally.journal_before:
        return None
    row, event_id = tally.journal_before
    # a row comparison: the (job, row, id) index scanned backward from the cursor returns the
    # batch in order (an OR of the two made PostgreSQL read and sort every row below it)
    return tuple_(ImportEvent.row_number, ImportEvent.id) < (row, uuid.UUID(event_id))


def refresh_statistics(conn: Connection) -> None:
    """Have PostgreSQL sample what a rollback reads before it starts (a no-op on SQLite).

    The import that just ran grew the journal far past the statistics autovacuum last took:
    trusting a few rows for the import, PostgreSQL read the whole of its journal and sorted it
    for the first batch (0.2 s at 300,000 rows) instead of scanning the index from the top.
    ANALYZE samples a fixed number of pages, whatever the journal's size; only the columns
    the rollback's reads filter, join and order on (the JSON columns' took 85% of its time).
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "ANALYZE import_events (id, import_job_id, contact_id, row_number, reverted_at)"
        )
        # the contacts it created: believing them few, PostgreSQL fetched every one left and
        # sorted them for each batch of `delete_created_in_sql`, instead of reading the index
        conn.exec_driver_sql("ANALYZE contacts (created_by_import_id)")


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


# A contact the chunk holds twice (rows of two batches) is reverted once per rank, newest first
# (`revert_in_sql`). One test per field the import may have written (a JSON null equals an empty column, as in
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
_OUTCOME = f"""CASE
    WHEN c.id IS NULL THEN 'gone'
    WHEN c.created_by_import_id = :job THEN 'created'
    WHEN {_HAS_PREVIOUS} AND NOT :force AND {_CHANGED_SINCE} THEN 'kept'
    WHEN {_HAS_PREVIOUS} THEN 'restore'
    WHEN r.new_data IS NOT NULL AND r.new_data <> '{{}}' THEN 'unlink'
    ELSE 'none'
END"""  # nosec B608 # built from our own column names at import, never from data; values bound


_CREATED_CHUNK = Table(  # as `_CHUNK`: the created contacts a batch read
    "created_chunk", MetaData(), Column("id", Uuid), Column("mine", Boolean)
)
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


_LINKED = """SELECT contact_id, jsonb_array_elements_text(new_data -> '{key}')::uuid AS other
    FROM decided WHERE outcome IN ('restore', 'unlink')"""
# One statement per rank: lock the contacts (in id order, as every writer does), decide every row
# from the contact as it is once locked, restore, unlink, relink, and return the counts with the
# kept contacts. FOR UPDATE returns a row's newest version even when another transaction changed
# it after the statement began, and the UPDATE then writes that newest version (PostgreSQL
# re-reads a row updated meanwhile); no part reads what another writes.
_REVERT_RANK = f"""
WITH locked AS MATERIALIZED (
    SELECT * FROM contacts
    WHERE id IN (SELECT contact_id FROM rollback_chunk WHERE rank = :rank)
    ORDER BY id FOR UPDATE
), decided AS MATERIALIZED (
    SELECT r.event_id, r.contact_id, r.row_number, r.previous_data, r.new_data, c.email,
        {_OUTCOME} AS outcome
    FROM rollback_chunk r LEFT JOIN locked c ON c.id = r.contact_id
    WHERE r.rank = :rank
), restored AS (
    UPDATE contacts c SET {", ".join(_restored(n) for n in STANDARD_FIELDS)},
        custom_fields = CASE WHEN r.previous_data ? 'custom' THEN
            (c.custom_fields || jsonb_strip_nulls(r.previous_data -> 'custom'))
            - ARRAY(SELECT kv.key FROM jsonb_each(r.previous_data -> 'custom') kv
                    WHERE kv.value = 'null')
            ELSE c.custom_fields END,
        updated_at = :now
    FROM decided r
    WHERE r.contact_id = c.id AND r.outcome = 'restore'
), untagged AS (
    DELETE FROM contact_tags t USING ({_LINKED.format(key="tags_added")}) x
    WHERE t.contact_id = x.contact_id AND t.tag_id = x.other
), retagged AS (
    INSERT INTO contact_tags (contact_id, tag_id)
    SELECT x.contact_id, x.other FROM ({_LINKED.format(key="tags_removed")}) x
    WHERE EXISTS (SELECT 1 FROM tags WHERE tags.id = x.other) ON CONFLICT DO NOTHING
), unsegmented AS (
    DELETE FROM segment_contacts t USING ({_LINKED.format(key="segments_added")}) x
    WHERE t.contact_id = x.contact_id AND t.segment_id = x.other
)
SELECT outcome, count(*) AS count,
    array_agg(ARRAY[row_number::text, event_id::text, contact_id::text, email])
        FILTER (WHERE outcome = 'kept') AS kept
FROM decided GROUP BY outcome
"""  # nosec B608 # built from our own column names at import, never from data; values bound


def revert_in_sql(
    conn: Connection, step: RollbackStep, tally: RollbackTally, now: datetime
) -> tuple[int, list[Any] | None]:
    """Revert the slice's rows among the next `limit` × `part.of` journal rows; returns how many
    it reverted and the position of the last row read (None: none was left).

    Every slice reads every row and keeps its own: a condition on the slice in the query made
    PostgreSQL's estimate of it a guess (0.5% of the rows), and its plan sorted the import's
    whole journal for a batch."""
    job_id, force, limit, part = step.job_id, step.force, step.limit, step.part
    without_jit(conn)
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS rollback_chunk (event_id uuid, contact_id uuid, "
        "row_number int, previous_data jsonb, new_data jsonb, rank int) ON COMMIT DELETE ROWS"
    )
    chunk = next_events(
        job_id,
        tally,
        limit * part.of,
        ImportEvent.id,
        ImportEvent.contact_id,
        ImportEvent.row_number,
        ImportEvent.previous_data,
        ImportEvent.new_data,
    ).subquery()
    mine = part.holds(chunk.c.contact_id)
    rank: Any = func.row_number().over(
        partition_by=chunk.c.contact_id, order_by=(chunk.c.row_number.desc(), chunk.c.id.desc())
    )
    previous, new = chunk.c.previous_data, chunk.c.new_data
    if mine is not None:  # another slice's row: rank 0, no values copied
        rank = case((mine, rank), else_=0)
        previous, new = case((mine, previous)), case((mine, new))
    conn.execute(
        insert(_CHUNK).from_select(
            ["event_id", "contact_id", "row_number", "previous_data", "new_data", "rank"],
            select(chunk.c.id, chunk.c.contact_id, chunk.c.row_number, previous, new, rank),
        )
    )
    last = conn.execute(
        text(
            "SELECT row_number, event_id FROM rollback_chunk ORDER BY row_number, event_id LIMIT 1"
        )
    ).first()
    if last is None:
        return 0, None
    count, ranks = conn.execute(
        text("SELECT count(*) FILTER (WHERE rank > 0), coalesce(max(rank), 0) FROM rollback_chunk")
    ).one()
    params = {"job": job_id, "force": force, "now": now}
    outcomes: Counter[str] = Counter()
    kept: list[list[str]] = []
    for number in range(1, ranks + 1):
        for row in conn.execute(text(_REVERT_RANK), {**params, "rank": number}):
            outcomes[row.outcome] += row._mapping[
                "count"
            ]  # `row.count` is tuple.count to a type checker
            kept += row.kept or []
    tally.restored += outcomes["restore"]
    tally.unlinked += outcomes["unlink"]
    tally.gone += outcomes["gone"]
    kept.sort(key=lambda k: (int(k[0]), k[1]), reverse=True)  # newest row first
    count_kept(tally, len(kept), [(contact_id, email) for _, _, contact_id, email in kept])
    return count, [last.row_number, str(last.event_id)]


_UNTOUCHED = """(c.updated_at = c.created_at OR c.updated_at = (
    SELECT max(e.created_at) FROM import_events e
    WHERE e.import_job_id::text = CAST(:job AS text) AND e.contact_id = c.id))"""
# (the import compared as text, so only the contact leads to its rows: see
# `batch_lookups.fetch_earlier_rows`)


def delete_created_in_sql(conn: Connection, step: RollbackStep, tally: RollbackTally) -> int | None:
    """`app.imports.rollback.delete_created` in three statements."""
    job_id, force, limit, part = step.job_id, step.force, step.limit, step.part
    without_jit(conn)
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS created_chunk (id uuid, mine bool, deleted bool "
        "DEFAULT false) ON COMMIT DELETE ROWS"
    )
    contacts = Contact.__table__
    mine = part.holds(contacts.c.id)
    scan = (  # every slice reads every id (from the index) and keeps its own
        select(contacts.c.id, true() if mine is None else mine)
        .where(contacts.c.created_by_import_id == job_id)
        .order_by(contacts.c.id)
        .limit(limit * part.of)
    )
    if tally.created_after:
        scan = scan.where(contacts.c.id > uuid.UUID(tally.created_after))
    conn.execute(insert(_CREATED_CHUNK).from_select(["id", "mine"], scan))
    params = {"job": job_id, "force": force}
    last = conn.execute(text("SELECT id FROM created_chunk ORDER BY id DESC LIMIT 1")).first()
    if last is None:
        return None
    conn.execute(
        text(
            "WITH gone AS (DELETE FROM contacts c USING created_chunk k "  # nosec B608 # constant SQL
            f"WHERE c.id = k.id AND k.mine AND (:force OR {_UNTOUCHED}) RETURNING c.id) "
            "UPDATE created_chunk k SET deleted = true FROM gone WHERE k.id = gone.id"
        ),
        params,
    )
    for table in ("contact_tags", "segment_contacts"):
        conn.execute(  # probes the contact's index per id: a join walked it from its start,
            text(  # over the links earlier batches deleted (still in the index until vacuum)
                f"DELETE FROM {table} "  # nosec B608 # our own table names
                "WHERE contact_id = ANY(ARRAY(SELECT id FROM created_chunk WHERE deleted))"
            )
        )
    read, deleted = conn.execute(
        text(
            "SELECT count(*) FILTER (WHERE mine), count(*) FILTER (WHERE deleted) FROM created_chunk"
        )
    ).one()
    keep_many(
        conn,
        tally,
        read - deleted,
        "SELECT c.id, c.email FROM created_chunk k JOIN contacts c ON c.id = k.id "
        "WHERE k.mine AND NOT k.deleted ORDER BY k.id LIMIT :room",
    )
    tally.deleted += deleted
    tally.created_after = str(last.id)
    return int(read)
