"""PostgreSQL refuses connections for a few seconds in the middle of an import."""

from __future__ import annotations

import pytest
from flask import Flask

from app.imports.importing import run_import
from app.imports.rollback_tally import RollbackTally
from app.jobs.submit import enqueue_import, queue_rollback
from tests.conftest import make_tenant
from tests.faults.conftest import (
    IMPORT_OPTIONS,
    FlakyProxy,
    Workers,
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

ROWS = 4_000
BATCH = 200


def test_database_outage_mid_import_retries_the_batch_and_commits_no_half_batch(
    app: Flask, workers: Workers, pg_proxy: tuple[FlakyProxy, str]
) -> None:
    proxy, database_url = pg_proxy
    content = emails_csv(ROWS)
    reference, victim = make_tenant("Reference"), make_tenant("Victim")
    expected = run_import(new_job(reference, content, **IMPORT_OPTIONS).id, batch_size=BATCH)

    job = new_job(victim, content, **IMPORT_OPTIONS)
    enqueue_import(job)
    workers.start("worker", "imports", DATABASE_URL=database_url, IMPORT_BATCH_SIZE=str(BATCH))
    wait_for(
        lambda: fresh_import(job.id).checkpoint_row >= ROWS // 5, 60, "the import to be under way"
    )
    proxy.outage(3)
    wait_for(
        lambda: fresh_import(job.id).status not in ("pending", "processing"),
        60,
        "the import to end",
    )
    done = fresh_import(job.id)
    assert done.status == "completed", done.failure_message
    assert "batch retried" in workers.log("worker")
    assert counts(done) == counts(fresh_import(expected.id))
    assert tenant_state(victim.id) == tenant_state(reference.id)
    assert journal(done.id) == journal(expected.id)


def test_database_outage_mid_rollback_retries_the_batch_and_restores_exactly(
    app: Flask, workers: Workers, pg_proxy: tuple[FlakyProxy, str]
) -> None:
    proxy, database_url = pg_proxy
    tenant = make_tenant("Victim")
    existing_contacts(tenant, 500)
    before = tenant_state(tenant.id)
    job = run_import(new_job(tenant, emails_csv(ROWS), **IMPORT_OPTIONS).id, batch_size=BATCH)
    queue_rollback(job)
    workers.start("worker", "imports", DATABASE_URL=database_url, ROLLBACK_BATCH_SIZE=str(BATCH))
    total = fresh_import(job.id).rollback_total
    wait_for(
        lambda: fresh_import(job.id).rollback_processed >= total // 5,
        60,
        "the rollback to be under way",
    )
    proxy.outage(3)
    wait_for(
        lambda: fresh_import(job.id).rollback_status not in ("pending", "processing"),
        60,
        "the rollback to end",
    )
    done = fresh_import(job.id)
    assert (done.status, done.rollback_status) == ("rolled_back", "completed")
    assert done.rollback_processed == total
    result = RollbackTally.of(done)
    assert result is not None and result.deleted == done.created_count
    assert "batch retried" in workers.log("worker")
    assert tenant_state(tenant.id) == before


def test_database_outage_longer_than_the_retries_fails_the_attempt_and_rq_resumes_it(
    app: Flask, workers: Workers, pg_proxy: tuple[FlakyProxy, str]
) -> None:
    proxy, database_url = pg_proxy
    rows, batch = 4_000, 100
    content = emails_csv(rows)
    reference, victim = make_tenant("Reference"), make_tenant("Victim")
    expected = run_import(new_job(reference, content, **IMPORT_OPTIONS).id, batch_size=batch)
    job = new_job(victim, content, **IMPORT_OPTIONS)
    enqueue_import(job)
    workers.start("worker", "imports", DATABASE_URL=database_url, IMPORT_BATCH_SIZE=str(batch))
    wait_for(lambda: fresh_import(job.id).checkpoint_row > 0, 60, "the import to be under way")
    proxy.outage(9)  # the batch's retries give up after about 6 s
    wait_for(lambda: "scheduled for retry" in workers.log("worker"), 30, "RQ to retry the job")
    assert fresh_import(job.id).status == "processing"  # not failed: RQ tries again
    wait_for(
        lambda: fresh_import(job.id).status not in ("pending", "processing"),
        60,
        "the retried import to end",
    )
    done = fresh_import(job.id)
    assert done.status == "completed", done.failure_message
    assert "starting at row 1\n" not in workers.log("worker").split("scheduled for retry")[1]
    assert counts(done) == counts(fresh_import(expected.id))
    assert tenant_state(victim.id) == tenant_state(reference.id)
    assert journal(done.id) == journal(expected.id)
