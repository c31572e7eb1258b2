"""On PostgreSQL the journal is reverted by SQL statements; they decide exactly as the Python walk.

The same imports run in two tenants; one is rolled back by the SQL path, the other by the
Python path (SQLite's, forced here on PostgreSQL). Contacts, links and the rollback's counts
must come out identical, over every kind of journal row: changed fields, custom fields that
appeared or changed, dates, statuses, tags added and removed (replace mode), segment links, a
contact journaled by two batches, one a person edited since, one a later import changed.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from app.extensions import db
from app.imports import rollback
from app.imports.rollback_job import run_rollback, start_rollback
from app.imports.rollback_tally import RollbackTally
from app.models import Contact, CustomField, Tenant
from tests.conftest import make_tenant
from tests.imports.conftest import ImportRunner, add_contact, csv_bytes, snapshot

HEADER = ["Email", "First", "Status", "Consented", "Zip", "Tags"]
MAPPING = {
    "Email": "email",
    "First": "first_name",
    "Status": "subscription_status",
    "Consented": "consented_on",
    "Zip": "custom:zip",
    "Tags": "tags",
}


def _scenario(run: ImportRunner, tenant: Tenant) -> Any:
    db.session.add(CustomField(tenant_id=tenant.id, key="zip", label="Zip", field_type="text"))
    db.session.commit()
    for i in range(6):
        add_contact(
            tenant,
            f"old{i}@example.com",
            first_name=f"Old{i}",
            custom_fields={"zip": f"0{i}"} if i % 2 else {},
            subscription_status="subscribed",
        )
    first = run(  # batches of 3: old1 is journaled by two batches
        tenant,
        csv_bytes(
            [
                HEADER,
                ["old0@example.com", "New0", "unsubscribed", "2024-05-01", "75001", "a; b"],
                ["old1@example.com", "New1", "", "", "", "a"],
                ["new@example.com", "Fresh", "subscribed", "", "1000", "a"],
                ["old2@example.com", "New2", "", "2023-01-02", "75002", ""],
                ["old1@example.com", "Again1", "", "", "99999", "c"],
                ["old3@example.com", "", "", "", "75003", "b"],
                ["old4@example.com", "New4", "", "", "", "b"],
            ]
        ),
        mapping=MAPPING,
        segment_name="Spring",
        tags=["imported"],
    )
    second = run(  # replace mode: removes tags the first one added
        tenant,
        csv_bytes([["Email", "Tags"], ["old0@example.com", "z"], ["old5@example.com", "z"]]),
        mapping={"Email": "email", "Tags": "tags"},
        tags_mode="replace",
    )
    db.session.execute(  # a person edits what the first import wrote
        update(Contact)
        .where(Contact.tenant_id == tenant.id, Contact.email_normalized == "old4@example.com")
        .values(first_name="Edited")
    )
    db.session.commit()
    return first, second


def _roll_back_both(first: Any, second: Any) -> list[tuple[Any, ...]]:
    """Each rollback's counts and the emails it kept (the ids differ between tenants)."""
    results = []
    for job in (second, first):
        start_rollback(job)
        result = RollbackTally.of(run_rollback(job.id, batch_size=4))
        assert result is not None
        counts = (result.deleted, result.restored, result.unlinked, result.kept, result.gone)
        results.append((counts, [c.email for c in result.kept_contacts]))
    return results


def test_the_sql_rollback_decides_exactly_as_the_python_one(
    run: ImportRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_sql, by_python = make_tenant("SQL"), make_tenant("Python")
    jobs = {tenant.name: _scenario(run, tenant) for tenant in (by_sql, by_python)}
    assert snapshot(by_sql.id) == snapshot(by_python.id)
    assert snapshot(by_sql.id)["old1@example.com"]["custom"] == {"zip": "99999"}

    calls = {"sql": 0}
    real = rollback.revert_in_sql

    def counted(*args: Any) -> Any:
        calls["sql"] += 1
        return real(*args)

    monkeypatch.setattr(rollback, "revert_in_sql", counted)
    sql_results = _roll_back_both(*jobs["SQL"])
    assert calls["sql"] > 2  # it ran, in several batches
    monkeypatch.setattr(rollback, "revert_in_sql", rollback._revert_in_python)
    python_results = _roll_back_both(*jobs["Python"])

    assert sql_results == python_results
    assert snapshot(by_sql.id) == snapshot(by_python.id)
    after = snapshot(by_sql.id)
    assert set(after) == {f"old{i}@example.com" for i in range(6)}  # new@ deleted
    assert after["old0@example.com"]["first_name"] == "Old0"
    assert after["old0@example.com"]["status"] == "subscribed"
    assert after["old1@example.com"]["custom"] == {"zip": "01"}  # back through both batches
    assert after["old2@example.com"]["custom"] == {}  # the zip it added is gone again
    assert after["old4@example.com"]["first_name"] == "Edited"  # kept and listed
    assert sql_results[1][1] == ["old4@example.com"]
    kept = after.pop("old4@example.com")  # a kept contact keeps what the import linked too
    assert (kept["tags"], kept["segments"]) == (["b", "imported"], ["Spring"])
    assert all(c["tags"] == [] and c["segments"] == [] for c in after.values()), after
