"""Query plans that stay right while an import makes a tenant grow.

psycopg prepares a statement run five times, and PostgreSQL may then reuse a generic plan made
when the tenant had few contacts. For the batch's contact lookup that plan read every contact of
the tenant for each batch, so a 200,000-row import slowed down as it went (the SIGKILL fault
test saw it). That lookup is now planned for its own values (`own_plan` in
`app/imports/upsert.py`).
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import Connection, text

from app.extensions import db
from app.imports.upsert import fetch_existing
from app.models import Contact, Tenant
from tests.faults.conftest import bulk_contacts


def contact_reads() -> dict[str, int]:
    """Rows of `contacts` read so far, per index and by sequential scans ("seq")."""
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        rows = conn.execute(
            text(
                "SELECT indexrelname, idx_tup_read FROM pg_stat_user_indexes "
                "WHERE relname = 'contacts' "
                "UNION ALL SELECT 'seq', seq_tup_read FROM pg_stat_user_tables "
                "WHERE relname = 'contacts'"
            )
        )
        return {name: int(count) for name, count in rows}


def flush_statistics(conn: Connection) -> None:
    """Make the backend behind `conn` report its counters now (PostgreSQL 15+)."""
    conn.execute(text("SELECT pg_stat_force_next_flush()"))
    conn.commit()
    conn.execute(text("SELECT 1"))
    conn.commit()


def test_the_batch_lookup_reads_only_its_emails_after_the_tenant_grew(
    app: Flask, tenant: Tenant
) -> None:
    emails = [f"p{i}@example.com" for i in range(10)]
    db.session.add_all(Contact(tenant_id=tenant.id, email=e, email_normalized=e) for e in emails)
    db.session.commit()
    with db.engine.connect() as conn:
        conn.execute(text("ANALYZE contacts"))
    conn = db.engine.connect()
    try:
        for _ in range(15):  # prepared by psycopg after 5, generic plan tried after 5 more
            fetch_existing(conn, tenant.id, emails[:3])
            conn.commit()
        bulk_contacts(tenant.id, 20_000)  # the import has written many rows since
        db.session.commit()
        flush_statistics(conn)
        before = contact_reads()
        found = fetch_existing(conn, tenant.id, emails[:3])
        conn.commit()
        flush_statistics(conn)
        after = contact_reads()
    finally:
        conn.close()
    assert sorted(found) == sorted(emails[:3])
    read = {name: after[name] - before[name] for name in after}
    assert read["seq"] == 0, read
    assert read["uq_contacts_tenant_email"] == 3, read
    assert sum(read.values()) == 3, read
