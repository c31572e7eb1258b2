"""A worker killed with SIGKILL half-way through an import, a rollback or an export.

A new worker finishes the job through the recovery a deployment runs (the scheduler's
`recover_jobs` every minute), and the result is exactly that of a run nobody interrupted.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from python_calamine import CalamineWorkbook
from sqlalchemy import update

from app.exports.query import ExportFilters
from app.exports.service import ExportRequest
from app.extensions import db
from app.imports.importing import run_import
from app.imports.rollback_tally import RollbackTally
from app.jobs.maintenance import recover_jobs
from app.jobs.queue import enqueue_committed
from app.jobs.submit import enqueue_import, queue_rollback, submit_export
from app.models import Contact, ExportJob, Tenant, User
from tests.conftest import make_tenant
from tests.faults.conftest import (
    IMPORT_OPTIONS,
    FlakyProxy,
    Workers,
    bulk_contacts,
    counts,
    emails_csv,
    existing_contacts,
    fresh_import,
    journal,
    tenant_state,
    wait_for,
)
from tests.imports.conftest import new_job

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("faults")]

IMPORT_ROWS = 200_000
EXISTING = 2_000


def recover_until(done: Callable[[], Any], what: str) -> None:
    """Do what the scheduler does every minute, every second, until `done()`.

    That is: queue `recover_jobs` on the maintenance queue, for a worker to run.
    """

    def recovered() -> Any:
        enqueue_committed("maintenance", recover_jobs)
        return done()

    wait_for(recovered, 30, what, interval=1.0)


def test_import_killed_with_sigkill_is_finished_by_a_new_worker_exactly(
    app: Flask, workers: Workers
) -> None:
    content = emails_csv(IMPORT_ROWS)
    options = IMPORT_OPTIONS
    reference, victim = make_tenant("Reference"), make_tenant("Victim")
    for tenant in (reference, victim):
        existing_contacts(tenant, EXISTING)

    job = new_job(victim, content, **options)
    enqueue_import(job)
    first = workers.start("first", "imports")
    wait_for(lambda: fresh_import(job.id).status == "processing", 30, "the first worker")
    ref_job = new_job(reference, content, **options)
    enqueue_import(ref_job)
    workers.start("reference", "imports")
    wait_for(
        lambda: fresh_import(job.id).checkpoint_row >= IMPORT_ROWS * 2 // 5,
        120,
        "the import to get 40% through",
    )
    workers.kill(first)
    killed_at = counts(fresh_import(job.id))
    killed_rq_job, checkpoint = fresh_import(job.id).rq_job_id, fresh_import(job.id).checkpoint_row
    assert killed_at["status"] == "processing"
    assert 0 < checkpoint == killed_at["processed"] < IMPORT_ROWS

    workers.start("second", "imports", "maintenance")

    # no worker reports on the killed import any more: after JOB_STALE_SECONDS it is stale
    recover_until(
        lambda: fresh_import(job.id).rq_job_id != killed_rq_job,
        "recover_jobs to queue the killed import again",
    )
    wait_for(lambda: fresh_import(job.id).status == "completed", 240, "the resumed import")
    wait_for(lambda: fresh_import(ref_job.id).status == "completed", 240, "the reference import")

    resumed, uninterrupted = fresh_import(job.id), fresh_import(ref_job.id)
    # the re-queued import goes to whichever live worker is free first: "second" or "reference"
    log = workers.log("second") + workers.log("reference")
    assert f"import {job.id}: starting at row {checkpoint + 1}" in log
    assert counts(resumed) == counts(uninterrupted)
    state = tenant_state(victim.id)
    emails = {line.split(",")[0].lower() for line in content.decode().splitlines()[1:]}
    assert set(state) == emails  # no contact missing, none twice (tenant_state checks)
    assert resumed.created_count == len(emails) - EXISTING
    assert state == tenant_state(reference.id)
    assert journal(resumed.id) == journal(uninterrupted.id)


ROLLBACK_ROWS = 12_000


def rollback_state(job_id: Any) -> dict[str, Any]:
    """How a rollback ended, without the contact ids (they differ between tenants)."""
    job = fresh_import(job_id)
    result = RollbackTally.of(job) or RollbackTally()
    result.kept_contacts.sort(key=lambda c: (c.email, c.reason))
    result.kept_contacts = [replace(c, contact_id="") for c in result.kept_contacts]
    # every journal row and created contact read once: none skipped, none counted twice
    left = (job.rollback_total or 0) - job.rollback_processed
    return {"status": (job.status, job.rollback_status), "result": result, "not reverted": left}


def test_rollback_killed_with_sigkill_is_finished_by_a_new_worker_exactly(
    app: Flask, workers: Workers, pg_proxy: tuple[FlakyProxy, str]
) -> None:
    content = emails_csv(ROLLBACK_ROWS)
    reference, victim = make_tenant("Reference"), make_tenant("Victim")
    imports = {}
    for tenant in (reference, victim):
        existing_contacts(tenant, EXISTING)
        imports[tenant.name] = run_import(new_job(tenant, content, **IMPORT_OPTIONS).id).id
        # a person edits a contact the import updated and one it created: the rollback keeps them
        db.session.execute(
            update(Contact)
            .where(
                Contact.tenant_id == tenant.id,
                Contact.email_normalized.in_(["p3@example.com", "p3001@example.com"]),
            )
            .values(first_name="Edited by a person")
        )
        db.session.commit()
    job_id, reference_id = imports["Victim"], imports["Reference"]
    queue_rollback(fresh_import(job_id))
    # its database messages go through a proxy that delays each: the rollback takes a while
    first = workers.start("first", "imports", ROLLBACK_BATCH_SIZE="500", DATABASE_URL=pg_proxy[1])
    total = fresh_import(job_id).rollback_total
    wait_for(
        lambda: fresh_import(job_id).rollback_processed >= total * 2 // 5,
        60,
        "the rollback to get 40% through",
        interval=0.02,
    )
    workers.kill(first)
    killed = fresh_import(job_id)
    assert killed.rollback_status == "processing" and killed.status == "completed"
    assert 0 < killed.rollback_processed < total
    stopped_beat = killed.heartbeat_at

    queue_rollback(fresh_import(reference_id))
    workers.start("second", "imports", "maintenance", ROLLBACK_BATCH_SIZE="500")
    recover_until(
        lambda: fresh_import(job_id).heartbeat_at != stopped_beat,
        "recover_jobs to queue the killed rollback again",
    )
    for name, done in imports.items():
        wait_for(
            lambda done=done: fresh_import(done).rollback_status == "completed",
            60,
            f"the rollback of the {name} import",
        )

    resumed, uninterrupted = rollback_state(job_id), rollback_state(reference_id)
    assert resumed == uninterrupted
    assert resumed["status"] == ("rolled_back", "completed") and resumed["not reverted"] == 0
    assert resumed["result"].kept == 2
    state = tenant_state(victim.id)
    assert state == tenant_state(reference.id)
    assert len(state) == EXISTING + 1  # the old contacts and the created one a person edited
    assert state["p5@example.com"][1:3] == ("Old", None)  # updated by the import: restored


EXPORT_CONTACTS = 100_000


def test_export_killed_with_sigkill_restarts_and_never_offers_a_partial_file(
    app: Flask,
    workers: Workers,
    tenant: Tenant,
    signed_in: User,
    client: FlaskClient,
    pg_url: str,
) -> None:
    bulk_contacts(tenant.id, EXPORT_CONTACTS, tag="vip")
    request = ExportRequest("full", ExportFilters(), ["email", "first_name", "tags"], "xlsx")
    job = submit_export(tenant.id, request, user_id=signed_in.id)
    storage_root = Path(app.config["STORAGE_LOCAL_PATH"])

    def export_row() -> ExportJob:
        db.session.rollback()
        db.session.expire_all()
        return db.session.get(ExportJob, job.id)

    # on an idle machine the export takes under a second, less than its progress interval: the
    # first worker reads the database through a proxy that holds each 64 KB for 50 ms
    host, _, port = pg_url.rpartition("@")[2].partition("/")[0].partition(":")
    slow = FlakyProxy((host, int(port or 5432)), delay=0.05)
    try:
        first = workers.start("first", "exports", DATABASE_URL=slow.url(pg_url))
        wait_for(  # progress is reported once a second
            lambda: 0 < export_row().processed_contacts < EXPORT_CONTACTS,
            60,
            "the export to be under way",
            interval=0.05,
        )
        workers.kill(first)
    finally:
        slow.close()
    killed = export_row()
    assert killed.status == "processing" and killed.file_url is None
    killed_rq_job = killed.rq_job_id
    assert client.get(f"/exports/{job.id}/download").status_code == 400
    assert "Not ready yet" in client.get(f"/exports/{job.id}/download").get_data(as_text=True)
    assert not [p for p in storage_root.rglob("*") if "exports" in p.parts and p.is_file()]

    workers.start("second", "exports", "maintenance")
    recover_until(
        lambda: export_row().rq_job_id != killed_rq_job,
        "recover_jobs to queue the orphaned export again",
    )
    wait_for(lambda: export_row().status == "completed", 60, "the export to run again")
    done = export_row()
    assert done.processed_contacts == done.total_contacts == EXPORT_CONTACTS
    link = client.get(f"/exports/{job.id}/download")
    assert link.status_code == 302
    body = client.get(link.headers["Location"]).get_data()
    rows = CalamineWorkbook.from_filelike(io.BytesIO(body)).get_sheet_by_index(0).to_python()
    assert [str(c).lower() for c in rows[0]] == ["email", "first name", "tags"]
    assert sorted(r[0] for r in rows[1:]) == sorted(
        f"c{i}@example.com" for i in range(1, EXPORT_CONTACTS + 1)
    )
    assert {r[2] for r in rows[1:]} == {"vip"}
    stored = [p for p in storage_root.rglob("*") if "exports" in p.parts and p.is_file()]
    assert len(stored) == 1  # the finished file only: nothing left over from the killed run
    assert "its worker died; queued again" in workers.log("second")
