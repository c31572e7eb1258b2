"""The batch's two lookups: the tenant's contacts for its emails, and this import's earlier rows.

Both probe their index once per key, whatever PostgreSQL's statistics say (an import grows the
very tables they read); `tests/imports/test_query_plans.py` holds them to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, func, select, text

from app.imports.bulk import one_of
from app.imports.upsert import CONTACT_COLUMNS, contact_state
from app.models import Contact, ImportEvent

_COLUMNS = ", ".join(c.name for c in CONTACT_COLUMNS)


@contextmanager
def own_plan(conn: Connection) -> Iterator[None]:
    """Plan the statements inside for their own values (PostgreSQL), not a cached generic plan.

    psycopg prepares a statement run five times, and PostgreSQL may then keep a generic plan
    made while the tenant (or the import) was small, and never revisit it as the import grows
    the table: the lookup read every contact of the tenant for each batch (seen in the SIGKILL
    fault test). Only these lookups re-plan: doing it for every statement cost a third of the
    speed.
    """
    if conn.dialect.name != "postgresql":
        yield
        return
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
    yield  # on an error the transaction is rolled back, and the SET LOCAL with it
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = auto")


def refresh_tenant_statistics(conn: Connection) -> None:
    """Have PostgreSQL sample how contacts spread over tenants (a no-op on SQLite).

    With statistics taken before a tenant had contacts (a new tenant, or one a big import grew
    without autovacuum noticing: one import is a small share of a large table), PostgreSQL
    believes the tenant empty, and prices a walk of the tenant's (tenant, updated_at) index
    below a probe of the unique email index: each lookup of a batch then read every contact of
    the tenant (seen as 4 to 6 s a batch in the SIGKILL fault test). One column: about 0.1 s.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE contacts (tenant_id)")


def fetch_existing(
    conn: Connection, tenant_id: uuid.UUID, emails: list[str], lock: bool = True
) -> dict[str, dict[str, Any]]:
    """The tenant's contacts with these normalized emails, locked for this transaction."""
    if not emails:
        return {}
    if conn.dialect.name == "postgresql":
        # One unique-index probe per email, whatever the statistics say. A plain `email =
        # ANY(...)` trusted statistics taken while the tenant was small, which lag behind an
        # import growing it: PostgreSQL read every contact of the tenant through the index's
        # tenant prefix and filtered (250,000 rows read for 1,000 found by row 300,000; a 1M
        # import ran at half its 200k speed, issue 12). The lateral subquery (kept apart from
        # the join by OFFSET 0) leaves the planner one way: a nested loop of key lookups.
        with own_plan(conn):
            rows = conn.execute(
                text(
                    "SELECT c.* FROM unnest(CAST(:emails AS varchar[])) AS k(email) "  # nosec B608 # our own column names; values bound
                    f"CROSS JOIN LATERAL (SELECT {_COLUMNS} FROM contacts "
                    "WHERE tenant_id = :tenant AND email_normalized = k.email OFFSET 0) c "
                    f"ORDER BY c.id{' FOR UPDATE OF c' if lock else ''}"
                ),
                {"emails": emails, "tenant": tenant_id},
            ).all()
        return {r.email_normalized: contact_state(r) for r in rows}
    stmt = (
        select(*CONTACT_COLUMNS)
        .where(Contact.tenant_id == tenant_id, one_of(conn, Contact.email_normalized, emails))
        .order_by(Contact.id)
    )
    if lock:
        stmt = stmt.with_for_update()
    return {r.email_normalized: contact_state(r) for r in conn.execute(stmt)}


def fetch_earlier_rows(
    conn: Connection, job_id: uuid.UUID, existing: dict[str, dict[str, Any]]
) -> dict[uuid.UUID, int]:
    """For contacts this import already touched in earlier batches, the first row that did.

    A contact it created says so itself (`created_from_row`); one it changed has journal rows.
    """
    earlier: dict[uuid.UUID, int] = {}
    others: list[uuid.UUID] = []
    for state in existing.values():
        if state.get("created_by_import_id") == job_id and state.get("created_from_row"):
            earlier[state["id"]] = state["created_from_row"]
        else:
            others.append(state["id"])
    if not others:
        return earlier
    if conn.dialect.name == "postgresql":
        # one probe of the (contact, import) index per contact, as in `fetch_existing`
        with own_plan(conn):
            found = conn.execute(
                text(
                    "SELECT k.id, e.first FROM unnest(CAST(:ids AS uuid[])) AS k(id) "
                    # Only the contact may lead to the rows: with statistics from before the
                    # import, PostgreSQL found the (import, row, id) index as cheap and walked
                    # the import's whole journal for each contact (10,000,000 rows read for
                    # 500), so the import is compared as text, which no index holds.
                    "CROSS JOIN LATERAL (SELECT min(row_number) AS first FROM import_events "
                    "WHERE contact_id = k.id AND import_job_id::text = :job_text OFFSET 0) e "
                    "WHERE e.first IS NOT NULL"
                ),
                {"ids": others, "job_text": str(job_id)},
            ).all()
    else:
        found = conn.execute(  # type: ignore[assignment] # rows of (id, first) either way
            select(ImportEvent.contact_id, func.min(ImportEvent.row_number))
            .where(
                ImportEvent.import_job_id == job_id,
                one_of(conn, ImportEvent.contact_id, others),
            )
            .group_by(ImportEvent.contact_id)
        )
    earlier.update({cid: first for cid, first in found})
    return earlier
