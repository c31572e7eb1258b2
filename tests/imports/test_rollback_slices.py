"""A rollback in slices: each slice, the contacts whose id's last byte falls in it, on a
connection of its own (ROLLBACK_CONNECTIONS, two by default on PostgreSQL).

The same imports run in two tenants; one is rolled back in one slice, the other in several.
Contacts, links, counts and the kept contacts must come out identical, also when a slice fails
half-way and the rollback is resumed later with another setting.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Uuid, select, text, update

from app.extensions import db
from app.imports import rollback_job
from app.imports.rollback_job import mark_rollback_failed, run_rollback, start_rollback
from app.imports.rollback_tally import Part, RollbackStep, RollbackTally
from app.models import Contact, ImportJob, Tenant
from app.models.types import new_id
from tests.conftest import lock_waiters, make_tenant
from tests.imports.conftest import ImportRunner, add_contact, csv_bytes, snapshot

pytestmark = pytest.mark.both_databases

EXISTING = 30


def _scenario(run: ImportRunner, tenant: Tenant) -> ImportJob:
    """30 contacts; an import updates 20 of them (two twice) and creates 20; a person then edits
    one it updated and one it created (both kept)."""
    for i in range(EXISTING):
        add_contact(tenant, f"old{i}@example.com", first_name=f"Old{i}")
    rows = [["Email", "First", "Tags"]]
    rows += [[f"old{i}@example.com", f"New{i}", f"t{i % 3}"] for i in range(20)]
    rows += [[f"new{i}@example.com", f"Fresh{i}", "t9"] for i in range(20)]
    rows += [["old3@example.com", "Again3", "t5"], ["OLD7@example.com", "Again7", ""]]
    job = run(
        tenant,
        csv_bytes(rows),
        mapping={"Email": "email", "First": "first_name", "Tags": "tags"},
        segment_name="Autumn",
        tags=["imported"],
        batch_size=7,
    )
    db.session.execute(
        update(Contact)
        .where(
            Contact.tenant_id == tenant.id,
            Contact.email_normalized.in_(["old11@example.com", "new4@example.com"]),
        )
        .values(first_name="Edited by a person")
    )
    db.session.commit()
    return job


def _outcome(job_id: uuid.UUID, tenant: Tenant) -> tuple[Any, ...]:
    db.session.expire_all()
    job = db.session.get(ImportJob, job_id)
    result = RollbackTally.of(job)
    assert result is not None
    result.kept_contacts.sort(key=lambda c: c.email)  # the ids differ between tenants
    result.kept_contacts = [replace(c, contact_id="") for c in result.kept_contacts]
    left = job.rollback_total - job.rollback_processed
    return (job.status, job.rollback_status), result, left, snapshot(tenant.id)


def _slices_seen(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    seen: set[str] = set()
    real = rollback_job._commit_batch

    def recorded(conn: Any, job_id: Any, part: Part, count: int, batch: Any) -> None:
        seen.add(part.key)
        real(conn, job_id, part, count, batch)

    monkeypatch.setattr(rollback_job, "_commit_batch", recorded)
    return seen


def test_slices_run_one_after_another_end_as_one_rollback(
    app: Flask, run: ImportRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On both databases: the slices' reads, positions and counts add up to one rollback."""
    whole, sliced = make_tenant("Whole"), make_tenant("Sliced")
    jobs = {tenant.name: _scenario(run, tenant) for tenant in (whole, sliced)}
    assert snapshot(whole.id) == snapshot(sliced.id)

    app.config["ROLLBACK_CONNECTIONS"] = 1
    start_rollback(jobs["Whole"])
    run_rollback(jobs["Whole"].id, batch_size=4)

    seen = _slices_seen(monkeypatch)
    monkeypatch.setattr(rollback_job, "_connections", lambda: 3)
    monkeypatch.setattr(  # in this thread, one slice after the other (SQLite has one writer)
        rollback_job,
        "_run_parts",
        lambda job_id, parts, force, size: [
            rollback_job._run_part(job_id, p, force, size, threading.Event()) for p in parts
        ],
    )
    start_rollback(jobs["Sliced"])
    run_rollback(jobs["Sliced"].id, batch_size=4)
    assert seen == {"0/3", "1/3", "2/3"}

    expected = _outcome(jobs["Whole"].id, whole)
    assert _outcome(jobs["Sliced"].id, sliced) == expected
    status, result, left, contacts = expected
    assert status == ("rolled_back", "completed") and left == 0
    assert result.positions == {}
    # 22 journal rows of contacts that existed (old3 and old7 twice), old11's kept
    assert (result.restored, result.deleted, result.kept) == (21, 19, 2)
    assert [c.email for c in result.kept_contacts] == ["new4@example.com", "old11@example.com"]
    assert contacts["old3@example.com"]["first_name"] == "Old3"  # back through both of its rows
    assert len(contacts) == EXISTING + 1  # the created contact a person edited stays


@pytest.mark.postgresql_only(reason="slices on connections of their own, side by side")
def test_a_slice_that_fails_stops_the_others_and_the_rollback_resumes_in_its_slices(
    app: Flask, run: ImportRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, victim = make_tenant("Reference"), make_tenant("Victim")
    jobs = {tenant.name: _scenario(run, tenant) for tenant in (reference, victim)}
    start_rollback(jobs["Reference"])
    run_rollback(jobs["Reference"].id, batch_size=3)

    app.config["ROLLBACK_CONNECTIONS"] = 3
    seen = _slices_seen(monkeypatch)
    real_revert = rollback_job.revert_batch
    calls = {"1/3": 0}

    def failing(conn: Any, step: RollbackStep, tally: Any) -> Any:
        if step.part.key == "1/3":
            calls["1/3"] += 1
            if calls["1/3"] == 2:
                raise RuntimeError("slice 1 broke")
        return real_revert(conn, step, tally)

    monkeypatch.setattr(rollback_job, "revert_batch", failing)
    start_rollback(jobs["Victim"])
    with pytest.raises(RuntimeError, match="slice 1 broke"):
        run_rollback(jobs["Victim"].id, batch_size=3)
    mark_rollback_failed(jobs["Victim"].id, "slice 1 broke")
    assert seen == {"0/3", "1/3", "2/3"}  # they ran side by side
    db.session.expire_all()
    failed = db.session.get(ImportJob, jobs["Victim"].id)
    assert failed.rollback_status == "failed"
    assert 0 < failed.rollback_processed < failed.rollback_total
    stopped = RollbackTally.of(failed)
    assert stopped is not None and stopped.error == "slice 1 broke"
    assert set(stopped.positions) == {"0/3", "1/3", "2/3"}

    monkeypatch.setattr(rollback_job, "revert_batch", real_revert)
    app.config["ROLLBACK_CONNECTIONS"] = 1  # the resumed rollback keeps its three slices
    seen.clear()
    start_rollback(failed)
    run_rollback(failed.id, batch_size=3)
    assert seen == {"0/3", "1/3", "2/3"}
    assert _outcome(failed.id, victim)[1:] == _outcome(jobs["Reference"].id, reference)[1:]
    assert _outcome(failed.id, victim)[0] == ("rolled_back", "completed")


def test_a_rollback_stopped_before_the_slices_resumes_from_its_position() -> None:
    """What a rollback on one connection stored before this change is slice 0/1's position."""
    stored = {
        "restored": 5,
        "kept_contacts": [],
        "journal_before": [40, "x"],
        "created_after": None,
    }
    tally = RollbackTally.from_stored(stored)
    assert tally is not None and tally.parts(default=2) == [Part(0, 1)]
    resumed = tally.resume(Part(0, 1))
    assert (resumed.journal_before, resumed.created_after) == ([40, "x"], None)
    assert RollbackTally().parts(default=2) == [Part(0, 2), Part(1, 2)]


@pytest.mark.postgresql_only(reason="compares the slice in SQL with the slice in Python")
def test_a_slice_holds_the_same_ids_in_sql_and_in_python(app: Flask) -> None:
    ids = [uuid.uuid4() for _ in range(200)] + [new_id() for _ in range(200)]
    listed = text("SELECT id FROM unnest(CAST(:ids AS uuid[])) id").columns(id=Uuid).subquery()
    for of in (2, 3, 5):
        for number in range(of):
            part = Part(number, of)
            held = db.session.scalars(
                select(listed.c.id).where(part.holds(listed.c.id)), {"ids": ids}
            )
            in_python = {i for i in ids if part.has(i)}
            assert set(held) == in_python and in_python  # every slice holds some
            in_text = db.session.scalars(  # the condition `delete_created_in_sql` writes out
                text(
                    "SELECT id FROM unnest(CAST(:ids AS uuid[])) id "
                    "WHERE get_byte(uuid_send(id), 15) % :of = :number"
                ),
                {"ids": ids, "of": of, "number": number},
            )
            assert set(in_text) == in_python


@pytest.mark.postgresql_only(reason="a person's edit on another connection, row locks")
@pytest.mark.parametrize("edit", ["committed", "abandoned"])
def test_a_rollback_decides_on_the_contact_as_a_concurrent_edit_left_it(
    app: Flask, run: ImportRunner, edit: str
) -> None:
    """A person's edit in flight when the rollback reaches the contact: the rollback waits for
    it, then keeps the contact if the edit was saved, and restores it if it was not."""
    tenant = make_tenant("Racing")
    job = _scenario(run, tenant)
    person = db.engine.connect()
    person.execute(
        update(Contact)
        .where(Contact.tenant_id == tenant.id, Contact.email_normalized == "old0@example.com")
        .values(first_name="Edited meanwhile")
    )
    start_rollback(job)
    failures: list[BaseException] = []

    def roll_back() -> None:
        with app.app_context():
            try:
                run_rollback(job.id, batch_size=100)
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)

    worker = threading.Thread(target=roll_back)
    worker.start()
    deadline = time.monotonic() + 30
    while lock_waiters() == 0:
        assert time.monotonic() < deadline, "the rollback never waited for the edit"
        time.sleep(0.02)
    if edit == "committed":
        person.commit()
    else:
        person.rollback()
    person.close()
    worker.join(30)
    assert not worker.is_alive() and not failures, failures
    (status, result, left, contacts) = _outcome(job.id, tenant)
    assert status == ("rolled_back", "completed") and left == 0
    if edit == "committed":
        assert contacts["old0@example.com"]["first_name"] == "Edited meanwhile"
        assert "old0@example.com" in [c.email for c in result.kept_contacts]
        assert result.kept == 3
    else:
        assert contacts["old0@example.com"]["first_name"] == "Old0"
        assert "old0@example.com" not in [c.email for c in result.kept_contacts]
        assert result.kept == 2
