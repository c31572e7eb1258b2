"""Query plans that stay right while an import makes a tenant grow.

psycopg prepares a statement run five times, and PostgreSQL may then reuse a generic plan made
when the tenant had few contacts. For the batch's contact lookup that plan read every contact of
the tenant for each batch, so a 200,000-row import slowed down as it went (the SIGKILL fault
test saw it). Planned afresh, it still trusted statistics taken while the tenant (or the
import's journal) was small, and read the whole tenant through the index's tenant prefix: at
1M rows the import ran at half its 200k speed (issue 12). Both lookups now probe their index
once per key (`fetch_existing`, `fetch_earlier_rows` in `app/imports/batch_lookups.py`).
"""

from __future__ import annotations

import uuid

from flask import Flask
from sqlalchemy import Connection, text

from app.extensions import db
from app.imports.batch_lookups import fetch_earlier_rows, fetch_existing
from app.imports.rollback_sql import delete_created_in_sql, next_events, refresh_statistics
from app.imports.rollback_tally import RollbackStep, RollbackTally
from app.models import Contact, ImportEvent, ImportJob, Tenant
from tests.conftest import make_tenant
from tests.faults.conftest import bulk_contacts
from tests.imports.conftest import ImportRunner, csv_bytes


def contact_reads(table: str = "contacts") -> dict[str, int]:
    """Rows of `table` read so far, per index and by sequential scans ("seq")."""
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        rows = conn.execute(
            text(
                "SELECT indexrelname, idx_tup_read FROM pg_stat_user_indexes "
                "WHERE relname = :table "
                "UNION ALL SELECT 'seq', seq_tup_read FROM pg_stat_user_tables "
                "WHERE relname = :table"
            ),
            {"table": table},
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
    with db.engine.connect() as conn:  # statistics that know the tenant (small)
        conn.execute(text("ANALYZE contacts"))
        conn.commit()
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


def test_a_full_batch_lookup_reads_only_its_emails_when_statistics_lag(
    app: Flask, tenant: Tenant
) -> None:
    """Statistics taken at 10 contacts, 20,000 there now: 1,000 emails read 1,000 rows."""
    bulk_contacts(tenant.id, 10)
    with db.engine.connect() as conn:
        conn.execute(text("ANALYZE contacts"))
        conn.commit()
    bulk_contacts_after(tenant.id, 20_000)
    emails = [f"d{i}@example.com" for i in range(1, 1001)]
    conn = db.engine.connect()
    try:
        flush_statistics(conn)
        before = contact_reads()
        found = fetch_existing(conn, tenant.id, emails)
        conn.commit()
        flush_statistics(conn)
        after = contact_reads()
    finally:
        conn.close()
    assert len(found) == 1000
    read = {name: after[name] - before[name] for name in after}
    assert read["seq"] == 0 and sum(read.values()) == 1000, read


def bulk_contacts_after(tenant_id: uuid.UUID, count: int) -> None:
    """`count` more contacts d1..dN@example.com, written inside PostgreSQL."""
    db.session.execute(
        text(
            "INSERT INTO contacts (id, tenant_id, email, email_normalized, custom_fields, "
            "subscription_status, emails_opened, emails_clicked, created_at, updated_at) "
            "SELECT gen_random_uuid(), :tenant, 'd' || g || '@example.com', "
            "'d' || g || '@example.com', '{}', 'subscribed', 0, 0, now(), now() "
            "FROM generate_series(1, :count) g"
        ),
        {"tenant": tenant_id, "count": count},
    )
    db.session.commit()


def test_the_journal_lookup_reads_only_its_contacts_when_statistics_lag(
    app: Flask, tenant: Tenant
) -> None:
    """The journal analyzed nearly empty, 20,000 rows of the import now: 500 contacts, 500 read."""
    job = ImportJob(tenant_id=tenant.id, status="processing")
    db.session.add(job)
    db.session.commit()
    with db.engine.connect() as conn:
        conn.execute(text("ANALYZE import_events"))
        conn.commit()
    ids = [uuid.uuid4() for _ in range(20_000)]
    db.session.execute(
        text(
            "INSERT INTO import_events (id, import_job_id, contact_id, event_type, created_at, "
            "row_number) SELECT gen_random_uuid(), :job, k.id, 'updated', now(), k.n "
            "FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS k(id, n)"
        ),
        {"job": job.id, "ids": ids},
    )
    db.session.commit()
    wanted = {cid: {"id": cid} for cid in ids[:500]}
    conn = db.engine.connect()
    try:
        flush_statistics(conn)
        before = contact_reads("import_events")
        earlier = fetch_earlier_rows(conn, job.id, wanted)
        conn.commit()
        flush_statistics(conn)
        after = contact_reads("import_events")
    finally:
        conn.close()
    assert earlier == {cid: n for n, cid in enumerate(ids[:500], start=1)}
    read = {name: after[name] - before[name] for name in after}
    assert read["seq"] == 0 and sum(read.values()) == 500, read


def test_a_rollback_batch_reads_only_its_journal_rows_from_the_cursor(
    app: Flask, tenant: Tenant
) -> None:
    """20,000 journal rows, the cursor at row 19,000: the next 100 are read, not 19,000 sorted.

    The statistics are taken with the journal empty, as after a first import into a new
    database: the rollback samples the journal again before its first batch."""
    job = ImportJob(tenant_id=tenant.id, status="completed")
    db.session.add(job)
    db.session.commit()
    with db.engine.connect() as conn:
        conn.execute(text("ANALYZE import_events"))
        conn.commit()
    db.session.execute(
        text(
            "INSERT INTO import_events (id, import_job_id, contact_id, event_type, created_at, "
            "row_number) SELECT gen_random_uuid(), :job, gen_random_uuid(), 'updated', now(), g "
            "FROM generate_series(1, 20000) g"
        ),
        {"job": job.id},
    )
    db.session.commit()
    cursor_id = db.session.scalar(
        text("SELECT id FROM import_events WHERE import_job_id = :job AND row_number = 19000"),
        {"job": job.id},
    )
    tally = RollbackTally(journal_before=[19000, str(cursor_id)])
    conn = db.engine.connect()
    try:
        refresh_statistics(conn)  # what a rollback does first: the import grew the journal
        conn.commit()
        flush_statistics(conn)
        before = contact_reads("import_events")
        rows = conn.execute(
            next_events(job.id, tally, 100, ImportEvent.row_number, ImportEvent.new_data)
        ).all()
        conn.commit()
        flush_statistics(conn)
        after = contact_reads("import_events")
    finally:
        conn.close()
    assert [r.row_number for r in rows] == list(range(18999, 18899, -1))
    read = {name: after[name] - before[name] for name in after}
    assert read["seq"] == 0 and sum(read.values()) <= 101, read


def test_a_rollback_deletes_its_created_contacts_reading_only_each_batch(
    app: Flask, tenant: Tenant
) -> None:
    """20,000 contacts an import created, each with a tag, statistics taken after its first 300:
    after a first batch of 1,000, a batch of 5,000 reads 5,000 contacts from the index and
    5,000 links, not the 19,000 contacts left (then sorted) nor the links the first deleted."""
    job = ImportJob(tenant_id=tenant.id, status="completed")
    db.session.add(job)
    db.session.commit()
    bulk_contacts(tenant.id, 2000, tag="older")

    def created(first: int, last: int) -> None:
        db.session.execute(
            text(
                "INSERT INTO contacts (id, tenant_id, email, email_normalized, custom_fields, "
                "subscription_status, emails_opened, emails_clicked, created_at, updated_at, "
                "created_by_import_id) SELECT gen_random_uuid(), :tenant, 'n' || g || "
                "'@example.com', 'n' || g || '@example.com', '{}', 'subscribed', 0, 0, now(), "
                "now(), :job FROM generate_series(CAST(:first AS int), CAST(:last AS int)) g"
            ),
            {"tenant": tenant.id, "job": job.id, "first": first, "last": last},
        )
        db.session.commit()

    created(1, 300)  # the statistics see the import's first contacts only
    with db.engine.connect() as conn:
        conn.execute(text("ANALYZE contacts"))
        conn.execute(text("ANALYZE contact_tags"))
        conn.commit()
    created(301, 20000)
    db.session.execute(
        text(
            "INSERT INTO contact_tags (contact_id, tag_id) SELECT c.id, t.id FROM contacts c "
            "JOIN tags t ON t.tenant_id = c.tenant_id WHERE c.created_by_import_id = :job"
        ),
        {"job": job.id},
    )
    db.session.commit()
    tally = RollbackTally()
    conn = db.engine.connect()
    try:
        refresh_statistics(conn)  # what a rollback does first
        conn.commit()
        assert delete_created_in_sql(conn, RollbackStep(job.id, False, 1000), tally) == 1000
        conn.commit()
        flush_statistics(conn)
        contacts, links = contact_reads(), contact_reads("contact_tags")
        assert delete_created_in_sql(conn, RollbackStep(job.id, False, 5000), tally) == 5000
        conn.commit()
        flush_statistics(conn)
        contacts_read = {k: v - contacts[k] for k, v in contact_reads().items()}
        links_read = {k: v - links[k] for k, v in contact_reads("contact_tags").items()}
    finally:
        conn.close()
    assert tally.deleted == 6000
    # (the DELETE by id may scan a table this small; the batch's read is the index's)
    assert contacts_read["ix_contacts_created_by_import"] <= 5001, contacts_read
    assert links_read["seq"] == 0 and sum(links_read.values()) <= 5001, links_read


def test_an_import_into_a_tenant_the_statistics_miss_probes_the_email_index(
    app: Flask, tenant: Tenant, run: ImportRunner
) -> None:
    """Statistics taken while another tenant held every contact: this tenant's 20,000 look like
    none, and a walk of its (tenant, updated_at) index looked cheaper than an email probe. The
    import samples the tenants again first: its 300 rows read 300 index entries, not 20,000
    per lookup."""
    known = make_tenant("Known")
    bulk_contacts(known.id, 500)
    with db.engine.connect() as conn:
        conn.execute(text("ANALYZE contacts"))
        conn.commit()
    bulk_contacts_after(tenant.id, 20_000)
    app.config["IMPORT_PARALLEL_ROWS"] = 100  # counts as large: its reads go to a child
    rows = [["Email", "First"]] + [[f"d{i}@example.com", f"New {i}"] for i in range(1, 301)]
    before = contact_reads()
    job = run(
        tenant, csv_bytes(rows), batch_size=100, mapping={"Email": "email", "First": "first_name"}
    )
    flush_statistics(db.session.connection())
    read = {name: count - before[name] for name, count in contact_reads().items()}
    assert (job.status, job.updated_count) == ("completed", 300)
    assert read["ix_contacts_tenant_updated"] == read["ix_contacts_tenant_created"] == 0, read
    assert read["seq"] == 0 and read["uq_contacts_tenant_email"] <= 1000, read


def flush_session_statistics() -> None:
    """`flush_statistics` for the session's own connection, through the session."""
    db.session.execute(text("SELECT pg_stat_force_next_flush()"))
    db.session.commit()
    db.session.execute(text("SELECT 1"))
    db.session.commit()


def journal_probes() -> int:
    """Index scans of the journal's (contact, import) index so far."""
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        return int(
            conn.scalar(
                text(
                    "SELECT idx_scan FROM pg_stat_user_indexes "
                    "WHERE indexrelname = 'ix_import_events_contact_job'"
                )
            )
        )


def test_the_journal_is_read_only_for_emails_an_earlier_batch_may_have_had(
    app: Flask, tenant: Tenant, run: ImportRunner
) -> None:
    """An existing contact's earlier rows in this import are looked up in its journal only when
    the reading process says an earlier batch may have brought the email (`EmailMemory`): 300
    existing contacts, each once, cost no probe; a repeat in a later batch still finds its row."""
    bulk_contacts_after(tenant.id, 300)
    app.config["IMPORT_PARALLEL_ROWS"] = 100  # read in a child, as a large file is
    mapping = {"Email": "email", "First": "first_name"}
    rows = [["Email", "First"]] + [[f"d{i}@example.com", f"New {i}"] for i in range(1, 301)]
    before = journal_probes()
    job = run(tenant, csv_bytes(rows), batch_size=100, mapping=mapping)
    flush_session_statistics()
    assert (job.status, job.updated_count) == ("completed", 300)
    assert journal_probes() == before

    rows = [["Email", "First"]] + [[f"d{i}@example.com", f"Again {i}"] for i in range(1, 151)]
    rows += [[f"D{i}@example.com", f"Third {i}"] for i in range(1, 151)]  # the next batches
    before = journal_probes()
    job = run(tenant, csv_bytes(rows), batch_size=100, mapping=mapping)
    flush_session_statistics()
    assert (job.status, job.updated_count, job.repeated_count) == ("completed", 150, 150)
    assert 0 < journal_probes() - before <= 150 + 2  # the repeats (and one wrong "maybe" at most)
