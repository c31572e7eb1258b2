"""On PostgreSQL a batch is decided and written by SQL (`staged_write`); SQLite's Python plans
(`upsert.plan_batch`) state the same rules. Both must leave identical contacts, links, journals
and counts, whatever the options: each case imports the same files into two tenants on
PostgreSQL, one through each writer, in batches small enough that an email repeats both inside
a batch and across batches, then rolls both back.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select

from app.extensions import db
from app.imports import importing
from app.imports.rollback_job import run_rollback, start_rollback
from app.imports.staged_write import StagedWriter
from app.models import Contact, CustomField, ImportEvent, Segment, Tag, Tenant
from tests.conftest import make_tenant
from tests.imports.conftest import ImportRunner, add_contact, csv_bytes, snapshot

pytestmark = pytest.mark.postgresql_only(reason="compares the PostgreSQL writer with Python's")

HEADER = ["Email", "First", "Last", "Company", "Status", "Consented", "Zip", "Score", "Tags"]
MAPPING = {
    "Email": "email",
    "First": "first_name",
    "Last": "last_name",
    "Company": "company",
    "Status": "subscription_status",
    "Consented": "consented_on",
    "Zip": "custom:zip",
    "Score": "custom:score",
    "Tags": "tags",
}
ROWS = [
    ["old0@example.com", "New0", "", "Acme", "unsubscribed", "2024-05-01", "75001", "3", "a; b"],
    ["old1@example.com", "", "Lee", "", "", "", "", "", "a"],
    ["new0@example.com", "Fresh", "", "", "subscribed", "", "1000", "1.5", "a"],
    ["OLD1@example.com", "Again1", "", "Beta", "subscribed", "", "99999", "", "c"],  # same batch
    ["old2@example.com", "", "", "", "", "2023-01-02", "", "7", ""],
    ["new0@example.com", "", "Later", "Gamma", "unsubscribed", "", "", "2", "b"],  # next batch
    ["old3@example.com", "New3", "", "", "subscribed", "", "75003", "", "B"],
    ["new1@example.com", "", "", "", "", "", "", "", ""],
    ["new1@example.com", "Twice", "", "", "", "", "1", "", "a"],  # same batch, a created one
    ["old4@example.com", "New4", "New", "New", "non-subscribed", "2022-02-02", "", "", "d"],
    ["old0@example.com", "Last0", "", "", "", "", "", "", ""],  # third time
    ["old5@example.com", "", "", "", "subscribed", "", "", "", ""],
    # what COPY's text format must escape: backslashes (\\N too), tabs, line breaks, quotes
    [
        "new2@example.com",
        "Back\\slash\\N",
        "Tab\there",
        "Two\nlines\r",
        "",
        "",
        "a\\b",
        "",
        'say "hi"; \\x',
    ],
]
CASES = {
    "update": {},
    "update, rules, blanks erase": {
        "blank_clears": True,
        "field_rules": {
            "first_name": "fill_empty",
            "last_name": "never",
            "custom:zip": "fill_empty",
            "subscription_status": "never",
        },
    },
    "update, status fill_empty, company fill_empty": {
        "field_rules": {"company": "fill_empty", "subscription_status": "fill_empty"},
    },
    "update, replace tags, segment, import tags": {
        "tags_mode": "replace",
        "segment_name": "Spring",
        "tags": ["imported", "A"],
    },
    "update, suppression list, blanks erase": {"suppression_list": True, "blank_clears": True},
    "skip": {"duplicate_strategy": "skip", "segment_name": "Spring"},
    "skip, suppression list": {"duplicate_strategy": "skip", "suppression_list": True},
    "create, segment, tags": {
        "duplicate_strategy": "create",
        "segment_name": "Spring",
        "tags": ["imported"],
    },
    "create, suppression list, subscribed by default": {
        "duplicate_strategy": "create",
        "suppression_list": True,
    },
    "update, new contacts subscribed": {
        "new_contact_status": "subscribed",
        "consent_confirmed": True,
        "tags": ["x"],
    },
}


def _existing(tenant: Tenant) -> None:
    for key in ("zip", "score"):
        field_type = "text" if key == "zip" else "number"
        db.session.add(CustomField(tenant_id=tenant.id, key=key, label=key, field_type=field_type))
    db.session.commit()
    statuses = ["subscribed", "unsubscribed", "bounced", "non_subscribed", "subscribed", "bounced"]
    for i, status in enumerate(statuses):
        add_contact(
            tenant,
            f"old{i}@example.com",
            first_name=f"Old{i}" if i % 3 else None,
            last_name="" if i == 2 else f"L{i}",
            company=None if i % 2 else "Corp",
            custom_fields={"zip": f"0{i}"} if i % 2 else ({"zip": ""} if i == 2 else {}),
            subscription_status=status,
        )
    tag = Tag(tenant_id=tenant.id, name="Z", name_normalized="z")
    db.session.add(tag)
    db.session.flush()
    contact = db.session.get(Contact, _contact_id(tenant, "old0@example.com"))
    contact.tags.append(tag)
    db.session.commit()


def _contact_id(tenant: Tenant, email: str) -> Any:
    return db.session.scalar(
        select(Contact.id).where(Contact.tenant_id == tenant.id, Contact.email_normalized == email)
    )


def _state(tenant: Tenant) -> dict[str, Any]:
    contacts = snapshot(tenant.id)
    for c in db.session.scalars(select(Contact).where(Contact.tenant_id == tenant.id)):
        contacts[c.email_normalized].update(
            consented_on=c.consented_on, created_from_row=c.created_from_row
        )
    return contacts


def _journal(tenant: Tenant, job: Any) -> list[tuple[Any, ...]]:
    """The journal with ids spelled as names (the two tenants' ids differ)."""
    names = {str(t.id): t.name for t in db.session.scalars(select(Tag))}
    names.update({str(s.id): s.name for s in db.session.scalars(select(Segment))})
    emails = {
        c.id: c.email_normalized
        for c in db.session.scalars(select(Contact).where(Contact.tenant_id == tenant.id))
    }
    events = []
    for e in db.session.scalars(select(ImportEvent).where(ImportEvent.import_job_id == job.id)):
        new = dict(e.new_data or {})
        for key in ("tags_added", "tags_removed", "segments_added"):
            if key in new:
                new[key] = sorted(names[i] for i in new[key])
        events.append((e.row_number, emails.get(e.contact_id), e.event_type, e.previous_data, new))
    return sorted(events, key=lambda e: (e[0], e[1] or ""))


def _counts(job: Any) -> dict[str, Any]:
    return {
        name: getattr(job, name)
        for name in (
            "status",
            "processed_rows",
            "created_count",
            "updated_count",
            "unchanged_count",
            "skipped_count",
            "repeated_count",
            "error_count",
            "unsubscribed_matches",
        )
    }


@pytest.mark.parametrize("options", list(CASES.values()), ids=list(CASES))
def test_sql_and_python_writers_leave_the_same_data(
    run: ImportRunner, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]
) -> None:
    results = {}
    for writer in ("sql", "python"):
        tenant = make_tenant(writer)
        _existing(tenant)
        before = _state(tenant)
        used = {"sql": 0}
        real = StagedWriter.write

        def counted(self: Any, *args: Any, real: Any = real, used: Any = used) -> Any:
            used["sql"] += 1
            return real(self, *args)

        monkeypatch.setattr(StagedWriter, "write", counted)
        if writer == "python":
            monkeypatch.setattr(importing, "staged_writer", lambda *args: None)
        job = run(tenant, csv_bytes([HEADER, *ROWS]), batch_size=4, mapping=MAPPING, **options)
        assert used["sql"] == (-(-len(ROWS) // 4) if writer == "sql" else 0)
        results[writer] = (_counts(job), _state(tenant), _journal(tenant, job))
        start_rollback(job)
        run_rollback(job.id, batch_size=5)
        assert _state(tenant) == before  # every change undone, every created contact gone

    sql, python = results["sql"], results["python"]
    assert sql[0] == python[0]
    assert sql[1] == python[1]
    assert sql[2] == python[2]
    assert sql[0]["status"] == "completed"
    assert sql[0]["processed_rows"] == len(ROWS)
    written = sql[1]["new2@example.com"]
    assert (written["first_name"], written["last_name"]) == ("Back\\slash\\N", "Tab\there")
    assert written["company"] == "Two\nlines"  # the cell's trailing \r is trimmed, as any space
    assert written["custom"] == {"zip": "a\\b"}
    assert {"\\x", 'say "hi"'} <= set(written["tags"])


def test_a_contact_another_import_creates_after_the_lookup_is_updated_not_duplicated(
    run: ImportRunner, tenant: Tenant
) -> None:
    """The SQL writer inserts new contacts without ON CONFLICT: a contact another transaction
    committed between the batch's lookup and its INSERT breaks the unique key, and the batch is
    planned again with that contact found, journaled, and restored by the rollback."""
    done: list[bool] = []

    def a_colleague_adds_bob(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if done or not statement.lstrip().startswith("INSERT INTO contacts"):
            return
        done.append(True)
        with db.engine.connect() as other:
            other.execute(
                Contact.__table__.insert().values(
                    tenant_id=tenant.id,
                    email="bob@example.com",
                    email_normalized="bob@example.com",
                    first_name="Robert",
                )
            )
            other.commit()

    event.listen(db.engine, "before_cursor_execute", a_colleague_adds_bob)
    try:
        job = run(
            tenant,
            csv_bytes([["Email", "First", "Tags"], ["ada@example.com", "Ada", "vip"],
                       ["bob@example.com", "Bob", "vip"]]),
            mapping={"Email": "email", "First": "first_name", "Tags": "tags"},
        )  # fmt: skip
    finally:
        event.remove(db.engine, "before_cursor_execute", a_colleague_adds_bob)
    assert done
    assert job.status == "completed", job.failure_message
    assert (job.created_count, job.updated_count) == (1, 1)
    after = snapshot(tenant.id)
    assert sorted(after) == ["ada@example.com", "bob@example.com"]
    assert after["bob@example.com"]["first_name"] == "Bob"
    assert after["bob@example.com"]["tags"] == ["vip"]
    start_rollback(job)
    run_rollback(job.id)
    restored = snapshot(tenant.id)
    assert sorted(restored) == ["bob@example.com"]
    assert restored["bob@example.com"]["first_name"] == "Robert"
    assert restored["bob@example.com"]["tags"] == []
