"""Cancel and rollback asked for while a worker is writing a batch (the engine issue's rules)."""

from __future__ import annotations

import threading

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.jobs.submit import enqueue_import
from app.models import Contact, ImportJob, Tenant, User
from tests.conftest import csrf_token, lock_waiters
from tests.faults.conftest import (
    IMPORT_OPTIONS,
    FlakyProxy,
    Workers,
    emails_csv,
    fresh_import,
    wait_for,
)
from tests.imports.conftest import new_job

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("faults")]

ROWS, BATCH = 10_000, 500


def contacts(tenant: Tenant) -> int:
    return db.session.scalar(select(func.count(Contact.id)).where(Contact.tenant_id == tenant.id))


def test_rollback_is_refused_while_running_and_cancel_stops_at_the_next_batch_boundary(
    app: Flask,
    workers: Workers,
    tenant: Tenant,
    signed_in: User,
    client: FlaskClient,
    pg_proxy: tuple[FlakyProxy, str],
) -> None:
    job = new_job(tenant, emails_csv(ROWS, duplicate_every=0), **IMPORT_OPTIONS)
    enqueue_import(job)
    # through a proxy that delays each database message: the import takes a while
    workers.start("worker", "imports", IMPORT_BATCH_SIZE=str(BATCH), DATABASE_URL=pg_proxy[1])
    wait_for(lambda: fresh_import(job.id).checkpoint_row >= 3 * BATCH, 60, "three batches")
    token = csrf_token(client, f"/imports/{job.id}")

    refused = client.post(
        f"/history/imports/{job.id}/rollback", data={"csrf_token": token}, follow_redirects=True
    )
    assert refused.status_code == 200
    assert "This import is still running: cancel it or wait" in refused.get_data(as_text=True)
    assert fresh_import(job.id).rollback_status is None

    asked = client.post(f"/imports/{job.id}/cancel", data={"csrf_token": token})
    assert asked.status_code == 303
    at_request = fresh_import(job.id).checkpoint_row
    wait_for(lambda: fresh_import(job.id).status != "processing", 60, "the import to stop")
    done = fresh_import(job.id)
    assert done.status == "cancelled" and done.cancel_requested
    # it stopped at a batch boundary, within a batch or two of the click, with its counts kept
    assert done.processed_rows % BATCH == 0
    assert at_request <= done.processed_rows <= at_request + 2 * BATCH < ROWS
    assert done.created_count == done.processed_rows == contacts(tenant)
    recorded = db.session.scalar(
        select(func.count(Contact.id)).where(Contact.created_by_import_id == job.id)
    )
    assert recorded == done.created_count
    page = client.get(f"/imports/{job.id}").get_data(as_text=True)
    assert "Import cancelled" in page and f"{done.processed_rows:,}" in page

    started = client.post(f"/history/imports/{job.id}/rollback", data={"csrf_token": token})
    assert started.status_code == 303
    wait_for(
        lambda: fresh_import(job.id).rollback_status == "completed", 60, "the rollback to finish"
    )
    assert fresh_import(job.id).status == "rolled_back" and contacts(tenant) == 0


@pytest.mark.parametrize("first", ["worker", "click"])
def test_cancel_racing_the_worker_that_starts_the_import(
    app: Flask,
    workers: Workers,
    tenant: Tenant,
    signed_in: User,
    client: FlaskClient,
    pg_proxy: tuple[FlakyProxy, str],
    first: str,
) -> None:
    """A person clicks Cancel on a waiting import just as a worker starts it.

    A row lock held by the test makes both writes queue in a chosen order. Whichever wins, the
    page never says cancelled while rows are being written, and a cancelled import writes none.
    """
    job = new_job(tenant, emails_csv(ROWS, duplicate_every=0), **IMPORT_OPTIONS)
    enqueue_import(job)
    token = csrf_token(client, f"/imports/{job.id}")  # the page a person has open: "Waiting"
    outcome: dict[str, int] = {}

    def click() -> None:
        response = client.post(f"/imports/{job.id}/cancel", data={"csrf_token": token})
        outcome["status"] = response.status_code

    clicking = threading.Thread(target=click)
    holder = db.engine.connect()  # holds the row, so both writers queue behind it in order
    holder.execute(select(ImportJob.id).where(ImportJob.id == job.id).with_for_update())
    try:
        for step in (first, "click" if first == "worker" else "worker"):
            if step == "worker":
                workers.start(
                    "worker", "imports", IMPORT_BATCH_SIZE=str(BATCH), DATABASE_URL=pg_proxy[1]
                )
            else:
                clicking.start()
            waiting = 1 if step == first else 2
            wait_for(lambda n=waiting: lock_waiters() == n, 30, f"the {step} to wait")
    finally:
        holder.rollback()  # the two writes now go through, in the order they queued
        holder.close()
    clicking.join(30)
    assert outcome == {"status": 303}
    if first == "worker":
        # the worker runs the import: it must not look ended, nor be allowed a rollback
        now = fresh_import(job.id)
        assert (now.status, now.completed_at, now.cancel_requested) == ("processing", None, True)
        refused = client.post(
            f"/history/imports/{job.id}/rollback",
            data={"csrf_token": token},
            follow_redirects=True,
        )
        assert "still running" in refused.get_data(as_text=True)
        wait_for(lambda: fresh_import(job.id).status == "cancelled", 60, "the import to stop")
        done = fresh_import(job.id)  # it stops before the next batch it has not written yet
        assert done.processed_rows % BATCH == 0 and done.processed_rows < ROWS
    else:
        # cancelled before it started: the worker leaves it alone and writes nothing
        wait_for(lambda: "Job OK" in workers.log("worker"), 30, "the worker to let it go")
        done = fresh_import(job.id)
        assert (done.status, done.processed_rows) == ("cancelled", 0)
    assert done.created_count == done.processed_rows == contacts(tenant)
