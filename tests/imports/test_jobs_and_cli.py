"""The import engine through a real RQ worker, the command line, SQLite and email."""

from __future__ import annotations

import json
import threading
from email import message_from_string
from email.policy import default
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from flask_migrate import upgrade
from rq import SimpleWorker
from rq.registry import FinishedJobRegistry
from sqlalchemy import func, select, text

from app import create_app
from app.extensions import db
from app.imports.importing import run_import
from app.imports.rollback_job import run_rollback, start_rollback
from app.jobs.queue import get_queue, redis_connection
from app.jobs.submit import enqueue_import, queue_rollback
from app.models import (
    Contact,
    ImportJob,
    Notification,
    Segment,
    Tag,
    Tenant,
    contact_tags,
    segment_contacts,
)
from tests.conftest import make_env, make_tenant, make_user
from tests.imports.conftest import csv_bytes, new_job, snapshot


def work(app: Flask) -> None:
    """Run a real RQ worker until the imports queue is empty."""
    worker = SimpleWorker([get_queue("imports")], connection=redis_connection())
    worker.work(burst=True)


def test_queued_import_and_rollback_run_on_a_real_worker(app: Flask, tenant: Tenant) -> None:
    job = new_job(
        tenant,
        csv_bytes([["Email"], ["a@example.com"], ["b@example.com"]]),
        mapping={"Email": "email"},
    )
    enqueue_import(job)
    assert job.rq_job_id
    work(app)
    db.session.expire_all()
    job = db.session.get(ImportJob, job.id)
    assert (job.status, job.created_count) == ("completed", 2)
    queue_rollback(job)
    work(app)
    db.session.expire_all()
    job = db.session.get(ImportJob, job.id)
    assert (job.status, job.rollback_status) == ("rolled_back", "completed")
    assert db.session.scalar(select(func.count(Contact.id))) == 0
    queue = get_queue("imports")
    finished = [queue.fetch_job(i) for i in FinishedJobRegistry(queue=queue).get_job_ids()]
    (task,) = [t for t in finished if t and t.func_name.endswith("rollback_task")]
    assert task.return_value() == {  # the task's result, in camelCase as it always was
        "status": "rolled_back",
        "deleted": 2,
        "restored": 0,
        "unlinked": 0,
        "kept": 0,
        "gone": 0,
        "keptContacts": [],
    }


def test_job_that_keeps_failing_is_marked_failed_with_its_reason(
    app: Flask, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.jobs import tasks

    monkeypatch.setattr(tasks, "RETRY", None)
    monkeypatch.setitem(tasks.IMPORT_OPTIONS, "retry", None)
    job = new_job(tenant, csv_bytes([["Email"], ["a@example.com"]]), mapping={"Email": "email"})

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database exploded")

    monkeypatch.setattr("app.imports.importing.run_import", broken)
    enqueue_import(job)
    work(app)
    db.session.expire_all()
    job = db.session.get(ImportJob, job.id)
    assert job.status == "failed"
    assert "internal error (RuntimeError)" in job.failure_message


def test_job_that_lost_the_database_says_so_in_plain_words(
    app: Flask, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    from app.jobs import tasks

    monkeypatch.setitem(tasks.IMPORT_OPTIONS, "retry", None)
    job = new_job(tenant, csv_bytes([["Email"], ["a@example.com"]]), mapping={"Email": "email"})

    def unreachable(*args: object, **kwargs: object) -> None:
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr("app.imports.importing.run_import", unreachable)
    enqueue_import(job)
    work(app)
    db.session.expire_all()
    job = db.session.get(ImportJob, job.id)
    assert job.status == "failed"
    assert job.failure_message.startswith("The database could not be reached")


def test_a_dry_run_that_crashes_says_why_instead_of_checking_for_ever(
    app: Flask, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.jobs.queue import enqueue_committed
    from app.jobs.tasks import DRY_RUN_OPTIONS, dry_run_task

    job = new_job(tenant, csv_bytes([["Email"], ["a@example.com"]]), mapping={"Email": "email"})
    job.status, job.dry_run_status = "draft", "pending"
    enqueue_committed("imports", dry_run_task, str(job.id), **DRY_RUN_OPTIONS)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database exploded")

    monkeypatch.setattr("app.imports.dry_run.run_dry_run", broken)
    work(app)
    db.session.expire_all()
    job = db.session.get(ImportJob, job.id)
    assert job.dry_run_status == "failed"
    assert "internal error (RuntimeError)" in job.dry_run["error"]


def test_cli_import_sync_prints_progress_and_final_counts(
    runner: FlaskCliRunner, tenant: Tenant, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(
        csv_bytes(
            [
                ["E-mail Address", "Given Name", "ZIP"],
                ["a@example.com", "Ada", "01234"],
                ["bad", "B", ""],
            ]
        )
    )
    result = runner.invoke(
        args=[
            "contacts",
            "import",
            str(path),
            "--tenant",
            "Acme",
            "--map",
            "E-mail Address=email",
            "--map",
            "Given Name=first_name",
            "--map",
            "ZIP=zip:text",
            "--tag",
            "cli",
            "--segment",
            "From CLI",
            "--sync",
        ]
    )
    assert result.exit_code == 0, result.output
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert {
        k: last[k] for k in ("status", "totalRows", "created", "updated", "skipped", "errors")
    } == {
        "status": "completed",
        "totalRows": 2,
        "created": 1,
        "updated": 0,
        "skipped": 0,
        "errors": 1,
    }
    assert "Import job" in result.stderr and "completed: 2 of 2 rows" in result.stderr
    ada = snapshot(tenant.id)["a@example.com"]
    assert (
        ada["custom"] == {"zip": "01234"}
        and ada["tags"] == ["cli"]
        and ada["segments"] == ["From CLI"]
    )


def test_cli_dry_run_prints_what_the_import_would_do_as_the_api_shows_it(
    runner: FlaskCliRunner, tenant: Tenant, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([["Email"], ["a@example.com"], ["a@example.com"], ["bad"]]))
    result = runner.invoke(args=["contacts", "import", str(path), "--tenant", "Acme", "--dry-run"])
    assert result.exit_code == 0, result.output
    dry_run = json.loads(result.stdout.strip().splitlines()[-1])["dryRun"]
    assert (dry_run["wouldCreate"], dry_run["wouldRepeat"], dry_run["errorRows"]) == (1, 1, 1)
    assert dry_run["repeats"] == [{"row": 3, "firstRow": 2}]
    assert dry_run["errors"][0]["row"] == 4
    assert snapshot(tenant.id) == {}  # nothing written


def test_cli_import_without_map_uses_and_prints_the_suggestion(
    runner: FlaskCliRunner, tenant: Tenant, tmp_path: Path
) -> None:
    path = tmp_path / "outlook.csv"
    path.write_bytes(
        csv_bytes([["E-mail Address", "First Name", "Notes"], ["a@example.com", "Ada", "x"]])
    )
    result = runner.invoke(args=["contacts", "import", str(path), "--tenant", "Acme", "--sync"])
    assert result.exit_code == 0, result.output
    assert "E-mail Address -> email" in result.stderr and "Notes -> ignore" in result.stderr
    assert snapshot(tenant.id)["a@example.com"]["first_name"] == "Ada"


def test_cli_import_of_a_broken_file_exits_non_zero(
    runner: FlaskCliRunner, tenant: Tenant, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([["Name"], ["Ada"]]))
    result = runner.invoke(
        args=[
            "contacts",
            "import",
            str(path),
            "--tenant",
            "Acme",
            "--map",
            "Name=first_name",
            "--sync",
        ]
    )
    assert result.exit_code != 0
    assert "Email" in result.output


def test_cli_wait_follows_a_queued_import_run_by_a_worker(
    runner: FlaskCliRunner, app: Flask, tenant: Tenant, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([["Email"], ["a@example.com"]]))
    outcome: dict[str, object] = {}

    def cli() -> None:
        outcome["result"] = runner.invoke(
            args=[
                "contacts",
                "import",
                str(path),
                "--tenant",
                "Acme",
                "--map",
                "Email=email",
                "--wait",
            ]
        )

    thread = threading.Thread(target=cli)
    thread.start()
    queue = get_queue("imports")
    for _ in range(100):  # the worker starts once the CLI has queued the job
        if queue.count:
            break
        thread.join(0.1)
    work(app)
    thread.join(30)
    result = outcome["result"]
    assert result.exit_code == 0, result.output
    assert "completed: 1 of 1 rows" in result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["status"] == "completed"


def test_cli_rollback_and_cancel(runner: FlaskCliRunner, tenant: Tenant, app: Flask) -> None:
    job = run_import(
        new_job(tenant, csv_bytes([["Email"], ["a@example.com"]]), mapping={"Email": "email"}).id
    )
    result = runner.invoke(args=["contacts", "rollback", str(job.id), "--sync"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["deleted"] == 1
    again = runner.invoke(args=["contacts", "rollback", str(job.id), "--sync"])
    assert again.exit_code != 0 and "already been rolled back" in again.output
    pending = new_job(tenant, csv_bytes([["Email"], ["b@example.com"]]), mapping={"Email": "email"})
    cancel = runner.invoke(args=["contacts", "cancel", str(pending.id)])
    assert cancel.exit_code == 0 and json.loads(cancel.stdout)["status"] == "cancelled"


def test_cli_rollback_prints_what_it_kept_in_camel_case_as_it_always_has(
    runner: FlaskCliRunner, tenant: Tenant, app: Flask
) -> None:
    job = run_import(
        new_job(
            tenant,
            csv_bytes([["Email", "First"], ["a@example.com", "A"], ["b@example.com", "B"]]),
            mapping={"Email": "email", "First": "first_name"},
        ).id
    )
    edited = db.session.scalar(select(Contact).where(Contact.email_normalized == "a@example.com"))
    edited.first_name = "Edited by a person"
    db.session.commit()
    result = runner.invoke(args=["contacts", "rollback", str(job.id), "--sync"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert printed == {
        "jobId": str(job.id),
        "status": "rolled_back",
        "rollbackStatus": "completed",
        "deleted": 1,
        "restored": 0,
        "unlinked": 0,
        "kept": 1,
        "gone": 0,
        "keptContacts": [
            {
                "contactId": str(edited.id),
                "email": "a@example.com",
                "reason": "changed since the import, kept",
            }
        ],
    }


def test_import_and_rollback_on_sqlite(tmp_path: Path, redis_url: str) -> None:
    app = create_app({"ENV": make_env(tmp_path, f"sqlite:///{tmp_path / 'lite.db'}", redis_url)})
    with app.app_context():
        upgrade()
        tenant = make_tenant("Lite")
        content = csv_bytes(
            [
                ["Email", "First", "Tags"],
                ["a@example.com", "A", "x"],
                ["b@example.com", "B", "y"],
                ["A@example.com", "A2", ""],
            ]
        )
        job = run_import(
            new_job(
                tenant,
                content,
                mapping={"Email": "email", "First": "first_name", "Tags": "tags"},
                segment_name="S",
            ).id,
            batch_size=2,
        )
        assert (job.status, job.created_count, job.repeated_count) == ("completed", 2, 1)
        assert snapshot(tenant.id)["a@example.com"]["first_name"] == "A2"
        assert db.session.scalar(select(func.count()).select_from(contact_tags)) == 2
        start_rollback(job)
        run_rollback(job.id)
        assert snapshot(tenant.id) == {}
        # SQLite enforces foreign keys only when asked: the links of deleted contacts must go
        # with them, and with them the tags and the segment the import created
        for table in (contact_tags, segment_contacts):
            assert db.session.scalar(select(func.count()).select_from(table)) == 0
        assert db.session.scalars(select(Tag.name)).all() == []
        assert db.session.scalars(select(Segment.name)).all() == []
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        db.session.remove()
        db.engine.dispose()


def test_finished_import_is_emailed_when_smtp_is_configured(app: Flask, tenant: Tenant) -> None:
    from aiosmtpd.controller import Controller

    received: list[str] = []

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            received.append(envelope.content.decode())  # type: ignore[attr-defined]
            return "250 OK"

    from tests.test_make_run import free_port

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_STARTTLS=False)
        user = make_user(tenant, "owner@acme.test")
        job = new_job(tenant, csv_bytes([["Email"], ["a@example.com"]]), mapping={"Email": "email"})
        job.created_by = user.id
        db.session.commit()
        run_import(job.id)
    finally:
        controller.stop()
    assert len(received) == 1
    assert "To: owner@acme.test" in received[0]
    assert "Import of contacts.csv finished: 1 created" in received[0]
    note = db.session.scalar(select(Notification))
    body = message_from_string(received[0], policy=default).get_content()
    assert f"Open it: http://127.0.0.1:5000/notifications/{note.id}" in body
    assert db.session.scalar(select(func.count(Notification.id))) == 1


def test_import_left_processing_by_a_dead_worker_is_queued_again_and_finishes(
    app: Flask, tenant: Tenant
) -> None:
    from datetime import timedelta

    from app.jobs.recovery import recover_stalled_jobs
    from app.models.types import utcnow

    content = csv_bytes([["Email"]] + [[f"p{i}@example.com"] for i in range(7)])
    job = new_job(tenant, content, mapping={"Email": "email"})
    job.status, job.heartbeat_at = "processing", utcnow() - timedelta(minutes=10)
    db.session.commit()
    fresh = new_job(tenant, content, mapping={"Email": "email"})
    fresh.status, fresh.heartbeat_at = "processing", utcnow()
    db.session.commit()
    assert recover_stalled_jobs() == {"imports": 1, "rollbacks": 0, "dry_runs": 0}
    work(app)
    db.session.expire_all()
    assert db.session.get(ImportJob, job.id).status == "completed"
    assert db.session.get(ImportJob, fresh.id).status == "processing"


def test_pending_import_whose_queue_entry_was_lost_is_queued_again(
    app: Flask, tenant: Tenant
) -> None:
    from app.jobs.recovery import recover_stalled_jobs

    job = new_job(tenant, csv_bytes([["Email"], ["a@example.com"]]), mapping={"Email": "email"})
    enqueue_import(job)
    redis_connection().flushdb()  # Redis restarted without persistence
    assert recover_stalled_jobs()["imports"] == 1
    work(app)
    db.session.expire_all()
    assert db.session.get(ImportJob, job.id).status == "completed"


def test_a_second_worker_on_the_same_import_leaves_it_alone(app: Flask, tenant: Tenant) -> None:
    from app.jobs.locks import job_lock

    job = new_job(tenant, csv_bytes([["Email"], ["a@example.com"]]), mapping={"Email": "email"})
    with job_lock(job.id) as first:
        assert first
        assert run_import(job.id).status == "pending"  # the lock is held: nothing done
    assert run_import(job.id).status == "completed"


def test_a_second_worker_on_the_same_rollback_leaves_it_alone(app: Flask, tenant: Tenant) -> None:
    from app.jobs.locks import job_lock

    job = new_job(tenant, csv_bytes([["Email"], ["a@example.com"]]), mapping={"Email": "email"})
    assert run_import(job.id).status == "completed"
    start_rollback(job)
    db.session.commit()
    with job_lock(job.id) as first:
        assert first
        assert run_rollback(job.id).rollback_status == "pending"  # the lock is held: nothing done
        assert db.session.query(Contact).filter_by(tenant_id=tenant.id).count() == 1
    assert run_rollback(job.id).rollback_status == "completed"
    assert db.session.query(Contact).filter_by(tenant_id=tenant.id).count() == 0


def test_abandoned_attempt_reported_late_does_not_fail_a_recovered_run(
    app: Flask, tenant: Tenant
) -> None:
    from rq.exceptions import AbandonedJobError

    from app.jobs.locks import job_lock
    from app.jobs.tasks import import_failed, import_task

    job = new_job(tenant, csv_bytes([["Email"], ["a@example.com"]]), mapping={"Email": "email"})
    job.status = "processing"
    db.session.commit()
    dead = get_queue("imports").enqueue(import_task, str(job.id))  # the attempt a worker lost
    with job_lock(job.id) as held:  # the recovered run is at work
        assert held
        import_failed(dead, redis_connection(), AbandonedJobError, AbandonedJobError(), None)
        db.session.expire_all()
        assert db.session.get(ImportJob, job.id).status == "processing"
    import_failed(dead, redis_connection(), AbandonedJobError, AbandonedJobError(), None)
    db.session.expire_all()
    failed = db.session.get(ImportJob, job.id)
    assert failed.status == "failed" and "worker running this job stopped" in failed.failure_message
