"""The export job on PostgreSQL and SQLite: states, counts, a real RQ worker, restarts, files."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook
from rq import SimpleWorker
from sqlalchemy import func, select

from app.exports import service
from app.exports.query import ExportFilters
from app.exports.service import (
    ExportRefused,
    ExportRequest,
    create_export,
    run_export,
)
from app.extensions import db
from app.jobs.queue import get_queue, redis_connection
from app.jobs.submit import enqueue_export, submit_export
from app.models import Contact, ExportJob, Notification, Tenant
from app.storage import S3Storage, key_belongs_to
from tests.conftest import S3_REGION, make_tenant, make_user
from tests.exports.conftest import add_custom_fields, export_now, person, stored_bytes

pytestmark = pytest.mark.both_databases


def work() -> None:
    """Run a real RQ worker until the exports queue is empty."""
    SimpleWorker([get_queue("exports")], connection=redis_connection()).work(burst=True)


def some_people(tenant: Tenant, count: int = 7) -> None:
    add_custom_fields(tenant)
    for n in range(count):
        person(
            tenant,
            f"p{n}@example.com",
            first_name=f"P{n}",
            tags=("vip",) if n % 2 else (),
            custom={"zip": f"0{n}000", "score": n},
        )


def request(**overrides: Any) -> ExportRequest:
    values: dict[str, Any] = {
        "export_type": "full",
        "filters": ExportFilters(),
        "fields": ["email", "first_name", "custom:zip", "tags"],
        "file_format": "csv",
    }
    values.update(overrides)
    return ExportRequest(**values)


def test_queued_export_runs_on_a_real_worker_and_records_its_file(
    app: Flask, tenant: Tenant
) -> None:
    some_people(tenant)
    user = make_user(tenant, "owner@acme.test")
    job = submit_export(tenant.id, request(), user_id=user.id)
    assert (job.status, job.rq_job_id) == ("pending", job.rq_job_id)
    assert job.rq_job_id
    work()
    db.session.expire_all()
    job = db.session.get(ExportJob, job.id)
    assert job.status == "completed"
    assert (job.total_contacts, job.processed_contacts) == (7, 7)
    assert job.started_at <= job.completed_at
    assert (job.expires_at - job.completed_at).days == 7
    assert job.file_size == len(stored_bytes(app, job))
    assert key_belongs_to(job.file_url, tenant.id)
    assert job.file_name.startswith("contacts-all-") and job.file_name.endswith(".csv")
    rows = list(csv.reader(io.StringIO(stored_bytes(app, job).decode())))
    assert rows[0] == ["Email", "First name", "ZIP", "Tags"]
    assert rows[1] == ["p0@example.com", "P0", "00000", ""]
    assert rows[2] == ["p1@example.com", "P1", "01000", "vip"]
    note = db.session.scalar(select(Notification))
    assert note.user_id == user.id
    assert note.message == f"Export {job.file_name} is ready: 7 contacts."
    assert (note.object_kind, note.object_id) == ("export", job.id)


def test_progress_is_recorded_while_the_file_is_written(
    app: Flask, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    some_people(tenant, 9)
    seen: list[tuple[Any, Any]] = []
    original = service._set_progress

    def spy(job_id: Any, **values: Any) -> None:
        original(job_id, **values)
        row = db.session.get(ExportJob, job_id)
        seen.append((row.total_contacts, row.processed_contacts))

    monkeypatch.setattr(service, "PROGRESS_SECONDS", 0)
    monkeypatch.setattr(service, "_set_progress", spy)
    export_now(tenant, batch_size=2)
    assert seen[0] == (9, 0)  # the total first
    assert [p for _, p in seen[1:6]] == [2, 4, 6, 8, 9]


def test_an_export_killed_half_way_leaves_nothing_downloadable_and_restarts_cleanly(
    app: Flask, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    some_people(tenant, 6)
    job = create_export(tenant.id, request())
    calls = {"n": 0}
    real_write = service._write_batch

    def dies_on_the_second_batch(writer: Any, batch: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("worker killed")
        real_write(writer, batch)

    monkeypatch.setattr(service, "PROGRESS_SECONDS", 0)
    monkeypatch.setattr(service, "_write_batch", dies_on_the_second_batch)
    with pytest.raises(SystemExit):
        run_export(job.id, batch_size=2)
    db.session.expire_all()
    job = db.session.get(ExportJob, job.id)
    assert job.status == "processing" and job.processed_contacts == 2
    assert job.file_url is None
    with pytest.raises(service.ExportNotReady):
        service.download_link(job)

    monkeypatch.setattr(service, "_write_batch", real_write)
    job = run_export(job.id, batch_size=2)
    assert (job.status, job.processed_contacts, job.total_contacts) == ("completed", 6, 6)
    assert len(stored_bytes(app, job).decode().splitlines()) == 7


def test_a_run_that_died_after_uploading_removes_its_leftover_file(
    app: Flask, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    some_people(tenant, 3)
    storage = app.extensions["storage"]
    job = create_export(tenant.id, request())
    real_save = storage.save_file

    def saved_then_killed(key: str, path: str, **kwargs: Any) -> int:
        real_save(key, path, **kwargs)
        raise SystemExit("killed right after the upload")

    monkeypatch.setattr(storage, "save_file", saved_then_killed)
    with pytest.raises(SystemExit):
        run_export(job.id)
    db.session.expire_all()
    job = db.session.get(ExportJob, job.id)
    leftover = job.upload_key
    assert leftover and storage.exists(leftover) and job.file_url is None

    monkeypatch.setattr(storage, "save_file", real_save)
    job = run_export(job.id)
    assert job.status == "completed" and job.file_url != leftover
    assert not storage.exists(leftover)
    assert job.upload_key is None


def test_job_that_keeps_failing_is_marked_failed_with_its_reason(
    app: Flask, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.jobs import tasks

    monkeypatch.setitem(tasks.EXPORT_OPTIONS, "retry", None)
    some_people(tenant, 2)
    user = make_user(tenant, "owner@acme.test")
    job = create_export(tenant.id, request(), user_id=user.id)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database exploded")

    monkeypatch.setattr("app.exports.service.run_export", broken)
    enqueue_export(job)
    work()
    db.session.expire_all()
    job = db.session.get(ExportJob, job.id)
    assert job.status == "failed"
    assert "internal error (RuntimeError)" in job.failure_message
    note = db.session.scalar(select(Notification))
    assert note.message.startswith(f"Export {job.file_name} failed:")


def test_a_segment_deleted_before_the_run_fails_the_export_clearly(
    app: Flask, tenant: Tenant
) -> None:
    from tests.exports.conftest import segment

    some_people(tenant, 1)
    warm = segment(tenant, "Warm")
    db.session.commit()
    job = create_export(
        tenant.id,
        request(export_type="segment", filters=ExportFilters(segment_id=str(warm.id))),
    )
    assert job.file_name.startswith("contacts-segment-warm-")
    db.session.delete(warm)
    db.session.commit()
    job = run_export(job.id)
    assert job.status == "failed"
    assert job.failure_message == "The segment chosen for this export no longer exists."


def test_requests_that_cannot_run_are_refused_before_a_row_exists(
    app: Flask, tenant: Tenant
) -> None:
    with pytest.raises(ExportRefused, match="at least one field"):
        create_export(tenant.id, request(fields=["nope"]))
    with pytest.raises(ExportRefused, match="Choose the segment"):
        create_export(tenant.id, request(export_type="segment"))
    with pytest.raises(ExportRefused, match="format"):
        create_export(tenant.id, request(file_format="pdf"))
    assert db.session.scalar(select(func.count(ExportJob.id))) == 0


def test_each_tenant_exports_only_its_own_contacts_into_its_own_folder(
    app: Flask, tenant: Tenant
) -> None:
    some_people(tenant, 2)
    other = make_tenant("Globex")
    person(other, "spy@globex.test")
    mine = export_now(tenant, ["email"])
    theirs = export_now(other, ["email"])
    assert b"spy@globex.test" not in stored_bytes(app, mine)
    assert stored_bytes(app, theirs).decode().splitlines() == ["Email", "spy@globex.test"]
    assert key_belongs_to(mine.file_url, tenant.id) and not key_belongs_to(mine.file_url, other.id)
    assert key_belongs_to(theirs.file_url, other.id)


@pytest.mark.parametrize("file_format", ["xlsx", "json", "ndjson"])
def test_other_formats_hold_the_same_contacts(app: Flask, tenant: Tenant, file_format: str) -> None:
    some_people(tenant, 3)
    job = export_now(tenant, ["email", "custom:zip", "custom:score", "tags"], file_format)
    data = stored_bytes(app, job)
    if file_format == "xlsx":
        sheet = load_workbook(io.BytesIO(data))["Contacts"]
        rows = [[c.value for c in r] for r in sheet.iter_rows()]
        assert rows == [
            ["Email", "ZIP", "Score", "Tags"],
            ["p0@example.com", "00000", 0, None],
            ["p1@example.com", "01000", 1, "vip"],
            ["p2@example.com", "02000", 2, None],
        ]
    else:
        records = (
            json.loads(data)
            if file_format == "json"
            else [json.loads(line) for line in data.splitlines()]
        )
        assert records[1] == {
            "email": "p1@example.com",
            "tags": ["vip"],
            "custom_fields": {"zip": "01000", "score": 1},
        }
        assert len(records) == 3


def test_csv_for_excel_has_a_bom(app: Flask, tenant: Tenant) -> None:
    some_people(tenant, 1)
    job = export_now(tenant, ["email"], csv_for_excel=True)
    assert stored_bytes(app, job).startswith(b"\xef\xbb\xbfEmail")


def test_export_on_s3_goes_up_in_parts(
    app: Flask, tenant: Tenant, s3_server: str, s3_bucket: str, s3_client: Any
) -> None:
    app.extensions["storage"] = S3Storage(
        s3_bucket, endpoint_url=s3_server, region=S3_REGION, part_size=5 * 1024 * 1024
    )
    add_custom_fields(tenant)
    db.session.execute(
        Contact.__table__.insert(),
        [
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant.id,
                "email": f"bulk{n}@example.com",
                "email_normalized": f"bulk{n}@example.com",
                "custom_fields": {"zip": "x" * 2000},
                "created_at": datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=n),
            }
            for n in range(3000)  # about 6 MB: more than one 5 MB part
        ],
    )
    db.session.commit()
    job = export_now(tenant, ["email", "custom:zip"], batch_size=500)
    assert job.status == "completed"
    head = s3_client.head_object(Bucket=s3_bucket, Key=job.file_url)
    assert head["ContentLength"] == job.file_size > 5 * 1024 * 1024
    assert "-" in head["ETag"]  # a multipart upload's ETag names its part count
    assert head["ContentType"] == "text/csv"
    assert len(stored_bytes(app, job).splitlines()) == 3001


@pytest.mark.postgresql_only(
    reason="PostgreSQL writes the CSV itself (COPY ... FORMAT csv); SQLite has only the Python writer"
)
def test_csv_written_by_postgresql_is_byte_for_byte_the_python_writers(
    app: Flask, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_custom_fields(tenant)
    tricky = [
        "=1+2",
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1)",
        "\tTAB",
        "\rCR",
        "+442079460958",
        "-1.5e3",
        "+.5",
        "",
        "a,b",
        'say "hi"',
        "two\nlines",
        "Zoë 李 😀",
        "'quoted",
        " pad ",
    ]
    for n, value in enumerate(tricky):
        person(
            tenant,
            f"p{n}@example.com",
            first_name=value,
            last_name=None,
            company=value or None,
            tags=("b-tag", "A,tag") if n % 3 == 0 else (),
            custom={"zip": value, "score": -n if n % 2 else n * 1.5, "signup": "2024-02-29"},
            emails_opened=n,
            last_engaged_at=datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC),
        )
    fields = [
        "email",
        "first_name",
        "last_name",
        "company",
        "custom:zip",
        "custom:score",
        "custom:signup",
        "tags",
        "emails_opened",
        "last_engaged_at",
        "created_at",
    ]
    in_database = export_now(tenant, fields, csv_for_excel=True)
    monkeypatch.setattr(service, "csv_in_database", lambda job: False)
    in_python = export_now(tenant, fields, csv_for_excel=True)
    database_bytes = stored_bytes(app, in_database)
    assert database_bytes == stored_bytes(app, in_python)
    rows = list(csv.reader(io.StringIO(database_bytes.decode("utf-8-sig"), newline="")))
    assert [r[1] for r in rows[1:4]] == ["'=1+2", "'+cmd|' /C calc'!A0", "'-2+3"]
    assert rows[7][1] == "+442079460958" and rows[8][1] == "-1.5e3"
    assert rows[1][7] == "A,tag; b-tag"


@pytest.mark.postgresql_only(
    reason="csv_cell_sql is the SQL of PostgreSQL's COPY CSV (left(), ~ regex); SQLite never runs it"
)
@pytest.mark.parametrize(
    "value",
    [
        "=1+2",
        "+x",
        "-x",
        "@x",
        "\tx",
        "\rx",
        "-12",
        "+4420794600",
        "-1.5e3",
        "+.5",
        "1e",
        "+١٢",
        "a=b",
        "",
        "'=x",
    ],
)
def test_postgresql_neutralizes_exactly_like_the_csv_writer(app: Flask, value: str) -> None:
    from sqlalchemy import String, literal

    from app.exports.fields import STANDARD_FIELDS, ExportField
    from app.exports.writers import csv_cell_sql, neutralize

    field = ExportField("first_name", *STANDARD_FIELDS["first_name"])
    in_database = db.session.scalar(select(csv_cell_sql(literal(value, String), field)))
    assert in_database == (neutralize(value) or None)


def test_exports_run_on_sqlite_too(tmp_path: Any, redis_url: str) -> None:
    """`make run` uses SQLite: every format works there, through the portable row stream."""
    from flask_migrate import upgrade

    from app import create_app
    from tests.conftest import make_env

    sqlite_app = create_app(
        {"ENV": make_env(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", redis_url)}
    )
    with sqlite_app.app_context():
        upgrade()
        lite = make_tenant("Lite")
        add_custom_fields(lite)
        person(
            lite,
            "b@example.com",
            first_name="=cmd",
            tags=("vip", "Alpha"),
            custom={"zip": "01234", "score": 2.5, "signup": "2024-02-29"},
            segments=("Warm",),
            last_engaged_at=datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC),
        )
        person(lite, "a@example.com", first_name="Ann", custom={"score": 3})
        fields = [
            "email",
            "first_name",
            "custom:zip",
            "custom:score",
            "custom:signup",
            "tags",
            "segments",
            "last_engaged_at",
        ]
        csv_job = export_now(lite, fields, "csv")
        assert stored_bytes(sqlite_app, csv_job).decode().splitlines() == [
            "Email,First name,ZIP,Score,Signup date,Tags,Segments,Last engaged at (UTC)",
            "b@example.com,'=cmd,01234,2.5,2024-02-29,Alpha; vip,Warm,2025-05-06 07:08:09",
            "a@example.com,Ann,,3,,,,",
        ]
        records = json.loads(stored_bytes(sqlite_app, export_now(lite, fields, "json")))
        assert records[0]["tags"] == ["Alpha", "vip"]
        assert records[0]["custom_fields"] == {"zip": "01234", "score": 2.5, "signup": "2024-02-29"}
        assert records[0]["last_engaged_at"] == "2025-05-06T07:08:09Z"
        sheet = load_workbook(
            io.BytesIO(stored_bytes(sqlite_app, export_now(lite, fields, "xlsx")))
        )
        assert sheet["Contacts"]["H2"].value == datetime(2025, 5, 6, 7, 8, 9)
        db.session.remove()
        db.engine.dispose()


def test_finished_export_is_emailed_when_smtp_is_configured(app: Flask, tenant: Tenant) -> None:
    from aiosmtpd.controller import Controller

    from tests.test_make_run import free_port

    received: list[str] = []

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
            received.append(envelope.content.decode())
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_STARTTLS=False)
        some_people(tenant, 2)
        user = make_user(tenant, "owner@acme.test")
        job = export_now(tenant, ["email"], user_id=user.id)
    finally:
        controller.stop()
    assert len(received) == 1
    assert "To: owner@acme.test" in received[0]
    assert f"Export {job.file_name} is ready: 2 contacts." in received[0]
