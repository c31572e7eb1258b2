"""Two imports of overlapping files into one tenant, at the same time, on two workers."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from app.extensions import db
from app.imports.rollback_tally import KEPT_LISTED, RollbackTally
from app.jobs.submit import enqueue_import, queue_rollback
from app.models import Contact, ImportEvent, ImportJob, Tenant
from tests.faults.conftest import (
    FlakyProxy,
    Workers,
    existing_contacts,
    fresh_import,
    tenant_state,
    wait_for,
)
from tests.imports.conftest import csv_bytes, new_job

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("faults")]

EXISTING = 200
A_ROWS = range(0, 6000)  # p0..p5999, in order
B_ROWS = range(8999, 2999, -1)  # p8999 down to p3000: the two meet inside p3000..p5999
OVERLAP = {f"p{i}@example.com" for i in range(3000, 6000)}
EDITED = "p7000@example.com"  # a person edits it after both imports


def import_file(tenant: Tenant, rows: range, name: str) -> ImportJob:
    content = csv_bytes([["Email", "First"]] + [[f"p{i}@example.com", name] for i in rows])
    return new_job(
        tenant,
        content,
        file_name=f"{name}.csv",
        mapping={"Email": "email", "First": "first_name"},
        tags=[name.lower()],
        segment_name=f"Seg {name}",
        validate_email=False,
    )


def events(job_id: uuid.UUID, kind: str) -> set[str]:
    """Emails of the contacts the import created, or journaled with `kind` (updated, ...)."""
    if kind == "created":  # a created contact names its import instead of a journal row
        return set(
            db.session.scalars(
                select(Contact.email_normalized).where(Contact.created_by_import_id == job_id)
            )
        )
    return set(
        db.session.scalars(
            select(Contact.email_normalized)
            .join(ImportEvent, ImportEvent.contact_id == Contact.id)
            .where(ImportEvent.import_job_id == job_id, ImportEvent.event_type == kind)
        )
    )


def short(tenant_id: uuid.UUID) -> dict[str, tuple[Any, ...]]:
    """Each contact's first name, tags and segments."""
    return {e: (v[1], v[7], v[8]) for e, v in tenant_state(tenant_id).items()}


def rollback(workers: Workers, job_id: uuid.UUID, force: bool) -> ImportJob:
    queue_rollback(fresh_import(job_id), force=force)
    wait_for(
        lambda: fresh_import(job_id).rollback_status not in ("pending", "processing"),
        60,
        "the rollback",
    )
    job = fresh_import(job_id)
    assert (job.status, job.rollback_status) == ("rolled_back", "completed")
    return job


def test_overlapping_imports_on_two_workers_then_each_rollback_undoes_only_its_own(
    app: Flask, workers: Workers, tenant: Tenant, pg_proxy: tuple[FlakyProxy, str]
) -> None:
    existing_contacts(tenant, EXISTING)
    # batches of 500 through a proxy that delays each database message: the two interleave
    slow = {"IMPORT_BATCH_SIZE": "500", "DATABASE_URL": pg_proxy[1]}
    first, second = workers.start("one", "imports", **slow), workers.start("two", "imports", **slow)
    for name in ("one", "two"):
        wait_for(lambda name=name: "Listening on" in workers.log(name), 30, f"worker {name}")
    a, b = import_file(tenant, A_ROWS, "A"), import_file(tenant, B_ROWS, "B")
    enqueue_import(a)
    enqueue_import(b)
    for job in (a, b):
        wait_for(lambda job=job: fresh_import(job.id).status == "completed", 120, "the imports")
    a, b = fresh_import(a.id), fresh_import(b.id)
    assert a.started_at < b.completed_at and b.started_at < a.completed_at  # at the same time
    assert first.poll() is None and second.poll() is None

    # no duplicate contact (tenant_state fails on two contacts with one email), none missing
    after = short(tenant.id)
    assert set(after) == {f"p{i}@example.com" for i in range(9000)}
    a_first = events(a.id, "created") & OVERLAP
    b_first = events(b.id, "created") & OVERLAP
    assert a_first and b_first and a_first | b_first == OVERLAP and not a_first & b_first
    # each job's counts match its own journal, row for row
    for job in (a, b):
        total = len(A_ROWS)
        assert job.processed_rows == job.total_rows == total
        assert job.created_count + job.updated_count + job.unchanged_count == total
        assert (job.created_count, job.updated_count) == (
            len(events(job.id, "created")),
            len(events(job.id, "updated")),
        )
        journaled = db.session.scalar(
            select(func.count(ImportEvent.id)).where(ImportEvent.import_job_id == job.id)
        )
        # one record per row, nothing twice: a journal row per existing contact (here each
        # gets at least a tag), the created ones name the import
        assert journaled + job.created_count == total
    assert a.created_count + b.created_count == 9000 - EXISTING
    for email in OVERLAP:  # the import that came second wrote last
        assert after[email] == ("B" if email in a_first else "A", ("a", "b"), ("Seg A", "Seg B"))

    db.session.execute(
        update(Contact).where(Contact.email_normalized == EDITED).values(first_name="Edited")
    )
    db.session.commit()

    # rolling back A restores what A did, except what B changed since: kept and listed
    a = rollback(workers, a.id, force=False)
    a_result = RollbackTally.of(a)
    assert a_result is not None and a_result.kept == len(a_first)
    listed = {c.email for c in a_result.kept_contacts}  # the first 1,000
    assert listed <= a_first and len(listed) == min(len(a_first), KEPT_LISTED)
    expected = {f"p{i}@example.com": ("Old", (), ()) for i in range(EXISTING)}
    expected |= {e: ("B", ("a", "b"), ("Seg A", "Seg B")) for e in a_first}
    expected |= {e: ("B", ("b",), ("Seg B",)) for e in b_first}
    expected |= {f"p{i}@example.com": ("B", ("b",), ("Seg B",)) for i in range(6000, 9000)}
    expected[EDITED] = ("Edited", ("b",), ("Seg B",))
    assert short(tenant.id) == expected

    # rolling back B with force undoes all of B, even the contact a person edited since
    b = rollback(workers, b.id, force=True)
    b_result = RollbackTally.of(b)
    assert b_result is not None and b_result.kept == 0
    expected = {f"p{i}@example.com": ("Old", (), ()) for i in range(EXISTING)}
    expected |= {e: ("A", ("a",), ("Seg A",)) for e in a_first}
    assert short(tenant.id) == expected
