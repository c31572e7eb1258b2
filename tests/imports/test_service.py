"""The import engine end to end on PostgreSQL and SQLite: rows written, the journal, rollback."""

from __future__ import annotations

import csv
import io
import threading

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.imports import batch_commit, importing
from app.imports.dry_run import run_dry_run
from app.imports.dry_run_result import Repeat, SegmentChange
from app.imports.importing import run_import
from app.imports.rollback_job import run_rollback, start_rollback
from app.imports.rollback_tally import RollbackTally
from app.imports.service import ImportRefused, request_cancel
from app.models import (
    Contact,
    CustomField,
    ImportEvent,
    ImportJob,
    ImportRowError,
    Notification,
    Segment,
    Tag,
    Tenant,
)
from tests.conftest import make_tenant
from tests.imports.conftest import MAPPING, ImportRunner, add_contact, csv_bytes, new_job, snapshot

pytestmark = pytest.mark.both_databases

HEADER = ["Email", "First", "Last", "Company", "Phone", "Tags"]


def test_import_creates_normalized_contacts_with_tags_and_segment(
    run: ImportRunner, tenant: Tenant
) -> None:
    content = csv_bytes(
        [
            HEADER,
            [
                "  Ada@Example.COM ",
                "Ada",
                "Lovelace",
                "Analytical",
                "+44 20 7946 0958",
                "vip; math",
            ],
            ["grace@example.com", "Grace", "Hopper", "Navy", "", "navy"],
        ]
    )
    job = run(tenant, content, mapping=MAPPING, tags=["spring"], segment_name="Pioneers")
    assert job.status == "completed"
    assert (job.total_rows, job.processed_rows, job.created_count, job.error_count) == (2, 2, 2, 0)
    contacts = snapshot(tenant.id)
    assert contacts["ada@example.com"] == {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "Analytical",
        "phone": "+442079460958",
        "custom": {},
        "status": "non_subscribed",  # nobody confirmed they gave permission
        "tags": ["math", "spring", "vip"],
        "segments": ["Pioneers"],
    }
    assert contacts["grace@example.com"]["phone"] is None
    assert contacts["grace@example.com"]["tags"] == ["navy", "spring"]
    # the contacts say which import and row created them; the journal is for changes only
    created = db.session.execute(
        select(Contact.email, Contact.created_by_import_id, Contact.created_from_row)
    ).all()
    assert sorted(created) == [
        ("ada@example.com", job.id, 2),
        ("grace@example.com", job.id, 3),
    ]
    assert not db.session.scalars(
        select(ImportEvent).where(ImportEvent.import_job_id == job.id)
    ).all()


def test_custom_fields_are_created_with_their_type_and_values_converted(
    run: ImportRunner, tenant: Tenant
) -> None:
    content = csv_bytes(
        [
            ["Email", "ZIP", "Signup", "Score", "VIP"],
            ["a@example.com", "01234", "2024-05-01", "1,234.5", "yes"],
        ]
    )
    job = run(
        tenant,
        content,
        mapping={
            "Email": "email",
            "ZIP": "zip:text",
            "Signup": "signup:date",
            "Score": "score:number",
            "VIP": "vip:boolean",
        },
    )
    assert job.status == "completed", job.failure_message
    assert snapshot(tenant.id)["a@example.com"]["custom"] == {
        "zip": "01234",
        "signup": "2024-05-01",
        "score": 1234.5,
        "vip": True,
    }
    types = dict(db.session.execute(select(CustomField.key, CustomField.field_type)).all())
    assert types == {"zip": "text", "signup": "date", "score": "number", "vip": "boolean"}


def test_row_errors_name_row_and_column_and_go_into_the_error_report(
    run: ImportRunner, tenant: Tenant, app: Flask
) -> None:
    content = csv_bytes(
        [
            ["Email", "First", "Score"],
            ["good@example.com", "Good", "1"],
            ["not-an-email", "Bad", "2"],
            ["", "NoEmail", "3"],
            ["ok@example.com", "Typed", "lots"],
        ]
    )
    job = run(
        tenant, content, mapping={"Email": "email", "First": "first_name", "Score": "score:number"}
    )
    assert job.status == "completed"
    assert (job.created_count, job.error_count) == (1, 3)
    rows = {e["row"]: e for e in job.errors}
    assert set(rows) == {3, 4, 5}
    assert rows[3]["column"] == "Email" and "not-an-email" in rows[3]["message"]
    assert "Row 4" in rows[4]["message"] or "no email" in rows[4]["message"].lower()
    assert rows[5]["column"] == "Score" and "lots" in rows[5]["message"]
    report = app.extensions["storage"].open(job.error_report_key).read().decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(report)))
    assert lines[0] == ["Email", "First", "Score", "row", "error"]
    assert [line[:4] for line in lines[1:]] == [
        ["not-an-email", "Bad", "2", "3"],
        ["", "NoEmail", "3", "4"],
        ["ok@example.com", "Typed", "lots", "5"],
    ]
    assert all(line[4] for line in lines[1:])


def test_a_corrected_error_report_imports_the_values_the_first_file_held(
    run: ImportRunner, tenant: Tenant, app: Flask
) -> None:
    mapping = {"Email": "email", "Company": "company", "Phone": "phone", "Note": "note:text"}
    content = csv_bytes(
        [
            ["Email", "Company", "Phone", "Note"],
            ["ann(at)example.com", "=Acme", "+44 20 7946 0958", "-- call back"],
            ["bob@example.com", "Bob Ltd", "'quoted", "'+ in the original file"],
        ]
    )
    first = run(tenant, content, mapping=mapping)
    report = app.extensions["storage"].open(first.error_report_key).read().decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(report)))
    assert lines[1][:4] == ["ann(at)example.com", "'=Acme", "'+44 20 7946 0958", "'-- call back"]

    lines[1][0] = "ann@example.com"  # the marketer corrects the email and imports the report
    out = io.StringIO()
    csv.writer(out).writerows(lines)
    second = run(tenant, out.getvalue().encode(), mapping=mapping)
    assert (second.created_count, second.error_count) == (1, 0)
    contacts = snapshot(tenant.id)
    ann = contacts["ann@example.com"]
    assert (ann["company"], ann["phone"], ann["custom"]) == (
        "=Acme",
        "+442079460958",
        {"note": "-- call back"},
    )
    bob = contacts["bob@example.com"]  # only a formula-like value loses its apostrophe
    assert (bob["phone"], bob["custom"]) == ("'quoted", {"note": "+ in the original file"})


def test_skip_leaves_existing_contacts_untouched(run: ImportRunner, tenant: Tenant) -> None:
    add_contact(tenant, "ada@example.com", first_name="Ada", company="Old")
    before = snapshot(tenant.id)
    content = csv_bytes(
        [
            HEADER,
            ["ada@example.com", "Ada", "L", "New", "", "vip"],
            ["new@example.com", "N", "", "", "", ""],
        ]
    )
    job = run(
        tenant, content, mapping=MAPPING, duplicate_strategy="skip", tags=["t"], segment_name="S"
    )
    assert (job.created_count, job.skipped_count, job.updated_count) == (1, 1, 0)
    assert snapshot(tenant.id)["ada@example.com"] == before["ada@example.com"]


def test_update_writes_non_blank_values_and_counts_unchanged(
    run: ImportRunner, tenant: Tenant
) -> None:
    add_contact(tenant, "ada@example.com", first_name="Ada", last_name="Byron", company="Old")
    add_contact(tenant, "same@example.com", first_name="Same")
    content = csv_bytes(
        [
            ["Email", "First", "Last", "Company"],
            ["ada@example.com", "Ada", "", "New Co"],
            ["same@example.com", "Same", "", ""],
        ]
    )
    job = run(
        tenant,
        content,
        mapping={
            "Email": "email",
            "First": "first_name",
            "Last": "last_name",
            "Company": "company",
        },
    )
    assert (job.updated_count, job.unchanged_count, job.created_count) == (1, 1, 0)
    ada = snapshot(tenant.id)["ada@example.com"]
    assert (ada["last_name"], ada["company"]) == ("Byron", "New Co")


def test_blank_cells_clear_values_only_when_asked(run: ImportRunner, tenant: Tenant) -> None:
    add_contact(tenant, "ada@example.com", first_name="Ada", company="Old")
    content = csv_bytes([["Email", "Company"], ["ada@example.com", ""]])
    run(tenant, content, mapping={"Email": "email", "Company": "company"}, blank_clears=True)
    assert snapshot(tenant.id)["ada@example.com"]["company"] is None


def test_field_rules_fill_only_if_empty_and_never_change(run: ImportRunner, tenant: Tenant) -> None:
    add_contact(tenant, "ada@example.com", first_name="Ada", last_name=None, company="Keep")
    content = csv_bytes(
        [["Email", "First", "Last", "Company"], ["ada@example.com", "Augusta", "King", "Nope"]]
    )
    run(
        tenant,
        content,
        mapping={
            "Email": "email",
            "First": "first_name",
            "Last": "last_name",
            "Company": "company",
        },
        field_rules={"first_name": "fill_empty", "last_name": "fill_empty", "company": "never"},
    )
    ada = snapshot(tenant.id)["ada@example.com"]
    assert (ada["first_name"], ada["last_name"], ada["company"]) == ("Ada", "King", "Keep")


def test_tags_replace_mode_sets_exactly_the_rows_tags(run: ImportRunner, tenant: Tenant) -> None:
    contact = add_contact(tenant, "ada@example.com")
    contact.tags = [Tag(tenant_id=tenant.id, name="old", name_normalized="old")]
    db.session.commit()
    content = csv_bytes([["Email", "Tags"], ["ada@example.com", "new"]])
    run(tenant, content, mapping={"Email": "email", "Tags": "tags"}, tags_mode="replace")
    assert snapshot(tenant.id)["ada@example.com"]["tags"] == ["new"]


def test_create_keeps_existing_data_but_adds_tags_and_segment(
    run: ImportRunner, tenant: Tenant
) -> None:
    add_contact(tenant, "ada@example.com", first_name="Ada")
    content = csv_bytes(
        [["Email", "First"], ["ada@example.com", "Changed"], ["new@example.com", "New"]]
    )
    job = run(
        tenant,
        content,
        mapping={"Email": "email", "First": "first_name"},
        duplicate_strategy="create",
        tags=["webinar"],
        segment_name="Attendees",
    )
    assert (job.created_count, job.skipped_count) == (1, 1)
    ada = snapshot(tenant.id)["ada@example.com"]
    assert ada["first_name"] == "Ada"
    assert (ada["tags"], ada["segments"]) == (["webinar"], ["Attendees"])


@pytest.mark.parametrize("strategy", ["skip", "create", "update"])
def test_repeated_email_in_the_file_across_batches(
    run: ImportRunner, tenant: Tenant, strategy: str
) -> None:
    content = csv_bytes(
        [
            ["Email", "First"],
            ["ada@example.com", "One"],
            ["b@example.com", "B"],
            ["c@example.com", "C"],
            ["ADA@example.com ", "Two"],  # next batch (batch_size=3)
            ["ada@example.com", "Three"],  # same batch as row 5
        ]
    )
    job = run(
        tenant,
        content,
        mapping={"Email": "email", "First": "first_name"},
        duplicate_strategy=strategy,
    )
    assert db.session.scalar(select(func.count(Contact.id))) == 3
    ada = snapshot(tenant.id)["ada@example.com"]
    if strategy == "update":
        assert (job.created_count, job.updated_count, job.skipped_count) == (3, 0, 0)
        assert job.repeated_count == 2  # counted on their own line, the later row wins
        assert ada["first_name"] == "Three"
    else:
        assert (job.created_count, job.skipped_count) == (3, 2)
        assert ada["first_name"] == "One"


def test_unsubscribed_contacts_stay_unsubscribed_and_are_counted(
    run: ImportRunner, tenant: Tenant
) -> None:
    add_contact(tenant, "gone@example.com", subscription_status="unsubscribed")
    add_contact(tenant, "bounce@example.com", subscription_status="bounced")
    content = csv_bytes(
        [["Email", "First"], ["gone@example.com", "G"], ["bounce@example.com", "B"]]
    )
    job = run(tenant, content, mapping={"Email": "email", "First": "first_name"})
    assert job.unsubscribed_matches == 2
    contacts = snapshot(tenant.id)
    assert contacts["gone@example.com"]["status"] == "unsubscribed"
    assert contacts["bounce@example.com"]["status"] == "bounced"


def test_rollback_restores_the_tenant_exactly(run: ImportRunner, tenant: Tenant) -> None:
    ada = add_contact(
        tenant, "ada@example.com", first_name="Ada", company="Old", custom_fields={"zip": "1"}
    )
    ada.tags = [Tag(tenant_id=tenant.id, name="keep", name_normalized="keep")]
    db.session.add(CustomField(tenant_id=tenant.id, key="zip", label="ZIP", field_type="text"))
    db.session.commit()
    before = snapshot(tenant.id)
    content = csv_bytes(
        [
            ["Email", "First", "Company", "ZIP", "Tags"],
            ["ada@example.com", "Augusta", "New", "2", "imported"],
            ["new@example.com", "New", "", "", "imported"],
            ["ada@example.com", "Third", "", "", ""],
            ["x@example.com", "X", "", "", ""],
        ]
    )
    job = run(
        tenant,
        content,
        mapping={
            "Email": "email",
            "First": "first_name",
            "Company": "company",
            "ZIP": "zip",
            "Tags": "tags",
        },
        tags=["spring"],
        segment_name="New segment",
    )
    assert snapshot(tenant.id) != before
    start_rollback(job)
    job = run_rollback(job.id, batch_size=2)
    assert job.status == "rolled_back" and job.rolled_back_at and not job.can_rollback
    assert snapshot(tenant.id) == before
    result = RollbackTally.of(job)
    assert result is not None and (result.deleted, result.kept) == (2, 0)
    assert db.session.scalar(select(func.count(Segment.id))) == 0
    assert sorted(db.session.scalars(select(Tag.name))) == ["keep"]
    assert (
        db.session.scalar(
            select(func.count(ImportEvent.id)).where(ImportEvent.import_job_id == job.id)
        )
        > 0
    )


def test_second_rollback_and_rollback_while_running_are_refused(
    run: ImportRunner, tenant: Tenant
) -> None:
    job = run(tenant, csv_bytes([["Email"], ["a@example.com"]]), mapping={"Email": "email"})
    start_rollback(job)
    run_rollback(job.id)
    with pytest.raises(ImportRefused, match="already been rolled back"):
        start_rollback(job)
    pending = new_job(tenant, csv_bytes([["Email"], ["b@example.com"]]), mapping={"Email": "email"})
    with pytest.raises(ImportRefused, match="still running"):
        start_rollback(pending)


def test_rollback_keeps_contacts_changed_since_unless_forced(
    run: ImportRunner, tenant: Tenant
) -> None:
    job = run(
        tenant,
        csv_bytes([["Email", "First"], ["a@example.com", "A"], ["b@example.com", "B"]]),
        mapping={"Email": "email", "First": "first_name"},
    )
    contact = db.session.scalar(select(Contact).where(Contact.email_normalized == "a@example.com"))
    contact.first_name = "Edited by a person"
    db.session.commit()
    start_rollback(job)
    job = run_rollback(job.id)
    result = RollbackTally.of(job)
    assert result is not None and (result.deleted, result.kept) == (1, 1)
    assert result.kept_contacts[0].email == "a@example.com"
    assert "changed since the import" in result.kept_contacts[0].reason
    assert set(snapshot(tenant.id)) == {"a@example.com"}

    job2 = run(
        tenant,
        csv_bytes([["Email", "First"], ["c@example.com", "C"]]),
        mapping={"Email": "email", "First": "first_name"},
    )
    db.session.execute(
        Contact.__table__.update()
        .where(Contact.email_normalized == "c@example.com")
        .values(first_name="Edited")
    )
    db.session.commit()
    start_rollback(job2, force=True)
    run_rollback(job2.id)
    assert "c@example.com" not in snapshot(tenant.id)


def test_rollback_of_a_later_import_does_not_undo_an_earlier_one(
    run: ImportRunner, tenant: Tenant
) -> None:
    first = run(
        tenant,
        csv_bytes([["Email", "First"], ["a@example.com", "One"]]),
        mapping={"Email": "email", "First": "first_name"},
    )
    after_first = snapshot(tenant.id)
    second = run(
        tenant,
        csv_bytes([["Email", "First"], ["a@example.com", "Two"], ["b@example.com", "B"]]),
        mapping={"Email": "email", "First": "first_name"},
    )
    start_rollback(second)
    run_rollback(second.id)
    assert snapshot(tenant.id) == after_first
    # the first import is now older than a change it did not make: kept, not clobbered
    assert first.status == "completed"


def test_cancel_pending_import(tenant: Tenant, app: Flask) -> None:
    job = new_job(tenant, csv_bytes([["Email"], ["a@example.com"]]), mapping={"Email": "email"})
    request_cancel(job)
    assert job.status == "cancelled"
    assert run_import(job.id).status == "cancelled"
    assert db.session.scalar(select(func.count(Contact.id))) == 0


def test_cancel_stops_a_running_import_at_the_next_batch(
    tenant: Tenant, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [["Email"]] + [[f"p{i}@example.com"] for i in range(10)]
    # blank lines: the total counted in line ends before the start says 13, the file has 10
    job = new_job(tenant, csv_bytes(rows) + b"\n\n\n", mapping={"Email": "email"})
    real = importing.commit_batch
    calls = []

    def commit_then_cancel(job_, *args: object) -> bool:
        cancelled = real(job_, *args)
        calls.append(1)
        if len(calls) == 2:  # a person clicks Cancel while the third batch is being read
            from sqlalchemy import update

            from app.models import ImportJob

            with db.engine.begin() as conn:
                conn.execute(
                    update(ImportJob).where(ImportJob.id == job_.id).values(cancel_requested=True)
                )
        return cancelled

    monkeypatch.setattr(importing, "commit_batch", commit_then_cancel)
    job = run_import(job.id, batch_size=3)
    assert job.status == "cancelled"
    assert (job.processed_rows, job.created_count) == (6, 6)
    assert (job.total_rows, job.percent) == (10, 60)  # counted exactly once stopped
    assert db.session.scalar(select(func.count(Contact.id))) == 6
    start_rollback(job)
    run_rollback(job.id)
    assert db.session.scalar(select(func.count(Contact.id))) == 0


def assert_same_outcome(job: ImportJob, reference: ImportJob) -> None:
    """The import ended with the reference run's counts, contacts and journal."""

    def counts(j: ImportJob) -> tuple[object, ...]:
        return (
            j.status,
            j.total_rows,
            j.processed_rows,
            j.created_count,
            j.updated_count,
            j.unchanged_count,
            j.skipped_count,
            j.error_count,
            j.repeated_count,
        )

    def events(j: ImportJob) -> int | None:
        return db.session.scalar(
            select(func.count(ImportEvent.id)).where(ImportEvent.import_job_id == j.id)
        )

    assert counts(job) == counts(reference)
    assert snapshot(job.tenant_id) == snapshot(reference.tenant_id)
    assert events(job) == events(reference)


class Crash(BaseException):
    """Stands for the worker being killed between two batches."""


@pytest.mark.parametrize("existing", [False, True], ids=["new contacts", "existing contacts"])
def test_resume_after_a_crash_gives_the_same_result_as_one_run(
    tenant: Tenant, app: Flask, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    """With existing contacts, a repeat after the checkpoint of an email from before it is
    found in the journal: the resumed read did not see those rows (`copy_lines.EmailMemory`)."""
    rows = (
        [["Email", "First"]]
        + [[f"p{i % 7}@example.com", f"name {i}"] for i in range(20)]
        + [["bad", "x"]]
    )
    content = csv_bytes(rows)
    mapping = {"Email": "email", "First": "first_name"}
    reference_tenant = make_tenant("Reference")
    if existing:
        for t in (tenant, reference_tenant):
            for i in range(7):
                add_contact(t, f"p{i}@example.com", first_name="Old")
    reference = run_import(new_job(reference_tenant, content, mapping=mapping).id, batch_size=4)
    assert reference.repeated_count == 13

    job = new_job(tenant, content, mapping=mapping)
    real = batch_commit.write_one_batch
    calls = []

    def crash_on_third(*args: object) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise Crash()
        real(*args)

    monkeypatch.setattr(batch_commit, "write_one_batch", crash_on_third)
    with pytest.raises(Crash):
        run_import(job.id, batch_size=4)
    db.session.rollback()
    db.session.refresh(job)
    assert job.status == "processing" and job.checkpoint_row == 8
    monkeypatch.setattr(batch_commit, "write_one_batch", real)
    job = run_import(job.id, batch_size=4)
    assert_same_outcome(job, reference)
    errors = db.session.scalar(
        select(func.count(ImportRowError.id)).where(ImportRowError.import_job_id == job.id)
    )
    assert errors == 1


def test_connection_lost_after_a_batch_committed_does_not_write_the_batch_twice(
    tenant: Tenant, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    rows = [["Email", "Tags"]] + [[f"p{i % 9}@example.com", f"t{i % 3}"] for i in range(20)]
    content = csv_bytes(rows)
    mapping = {"Email": "email", "Tags": "tags"}
    reference_tenant = make_tenant("Reference")
    reference = run_import(new_job(reference_tenant, content, mapping=mapping).id, batch_size=4)

    job = new_job(tenant, content, mapping=mapping)
    real_write, real_commit = batch_commit.write_one_batch, db.session.commit
    batches = []

    def counting_batches(*args: object) -> bool:
        batches.append(1)
        return real_write(*args)

    def commit(*args: object) -> None:
        real_commit(*args)
        if len(batches) == 2 and not hasattr(commit, "done"):
            commit.done = True  # COMMIT went through; the server's answer never arrived
            raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(batch_commit, "write_one_batch", counting_batches)
    monkeypatch.setattr(db.session, "commit", commit)
    monkeypatch.setattr(batch_commit.time, "sleep", lambda seconds: None)
    job = run_import(job.id, batch_size=4)
    assert_same_outcome(job, reference)
    start_rollback(job)
    run_rollback(job.id)
    assert snapshot(tenant.id) == {}


def test_concurrent_imports_of_overlapping_files_never_duplicate_a_contact(
    app: Flask, tenant: Tenant
) -> None:
    mapping = {"Email": "email", "First": "first_name"}
    a = new_job(
        tenant,
        csv_bytes([["Email", "First"]] + [[f"p{i}@example.com", "A"] for i in range(0, 300)]),
        mapping=mapping,
    )
    b = new_job(
        tenant,
        csv_bytes([["Email", "First"]] + [[f"p{i}@example.com", "B"] for i in range(150, 450)]),
        mapping=mapping,
    )
    results: dict[str, object] = {}

    def work(job_id: object, name: str) -> None:
        with app.app_context():
            results[name] = run_import(job_id, batch_size=25).status

    threads = [threading.Thread(target=work, args=(j.id, n)) for j, n in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"a": "completed", "b": "completed"}
    assert db.session.scalar(select(func.count(Contact.id))) == 450
    db.session.expire_all()
    a, b = db.session.get(type(a), a.id), db.session.get(type(b), b.id)
    assert a.created_count + b.created_count == 450
    assert a.created_count + a.updated_count + a.unchanged_count == 300
    assert b.created_count + b.updated_count + b.unchanged_count == 300


def test_unreadable_file_fails_with_a_clear_message(run: ImportRunner, tenant: Tenant) -> None:
    job = run(tenant, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20, mapping={"Email": "email"})
    assert job.status == "failed"
    assert job.failure_message and "Traceback" not in job.failure_message
    assert db.session.scalar(select(func.count(Contact.id))) == 0


def test_missing_email_mapping_fails_before_any_row(run: ImportRunner, tenant: Tenant) -> None:
    job = run(
        tenant,
        csv_bytes([["Email", "First"], ["a@example.com", "A"]]),
        mapping={"First": "first_name"},
    )
    assert job.status == "failed" and "Email" in job.failure_message
    assert db.session.scalar(select(func.count(Contact.id))) == 0


def test_dry_run_reports_what_would_happen_without_writing(app: Flask, tenant: Tenant) -> None:
    add_contact(tenant, "ada@example.com", first_name="Ada", company="Old")
    add_contact(tenant, "gone@example.com", subscription_status="unsubscribed")
    content = csv_bytes(
        [
            ["Email", "First", "Company"],
            ["ada@example.com", "Ada", "New"],
            ["gone@example.com", "", ""],
            ["new@gamil.com", "N", ""],
            ["new@gamil.com", "N2", ""],
            ["broken", "", ""],
        ]
    )
    job = new_job(
        tenant,
        content,
        mapping={"Email": "email", "First": "first_name", "Company": "company"},
        segment_name="Seg",
    )
    before = snapshot(tenant.id)
    result = run_dry_run(job.id, batch_size=2)
    assert snapshot(tenant.id) == before
    assert (
        result.would_create,
        result.would_update,
        result.would_leave_unchanged,
        result.would_repeat,
        result.error_rows,
    ) == (1, 1, 1, 1, 1)  # new@gamil.com twice: created once, then a repeat (not an update)
    assert result.repeats == (Repeat(row=5, first_row=4),)
    assert result.field_changes == {"company": 1}
    assert result.unsubscribed_matches == 1
    assert result.domain_typos[0].domain == "gamil.com"
    assert result.domain_typos[0].suggestion == "gmail.com"
    assert result.segment == SegmentChange(name="Seg", would_join=3, already_in=0)
    assert result.errors[0].row == 6


def test_finished_import_leaves_a_notification(run: ImportRunner, tenant: Tenant) -> None:
    job = run(
        tenant, csv_bytes([["Email"], ["a@example.com"], ["bad"]]), mapping={"Email": "email"}
    )
    note = db.session.scalar(select(Notification).where(Notification.tenant_id == tenant.id))
    assert (
        note.message
        == "Import of contacts.csv finished: 1 created, 0 updated, 0 skipped, 1 row with errors."
    )
    assert (note.object_kind, note.object_id) == ("import", job.id)


def test_values_too_long_for_a_field_are_row_errors_not_a_failed_batch(
    run: ImportRunner, tenant: Tenant
) -> None:
    content = csv_bytes(
        [["Email", "Company"], ["a@example.com", "x" * 300], ["b@example.com", "Fine"]]
    )
    job = run(tenant, content, mapping={"Email": "email", "Company": "company"})
    assert (job.status, job.created_count, job.error_count) == ("completed", 1, 1)
    assert job.errors[0]["row"] == 2 and "300 characters" in job.errors[0]["message"]


def test_unknown_default_phone_country_is_refused_before_the_import(
    run: ImportRunner, tenant: Tenant
) -> None:
    job = run(
        tenant,
        csv_bytes([["Email"], ["a@example.com"]]),
        mapping={"Email": "email"},
        default_region="XX",
    )
    assert job.status == "failed" and "XX" in job.failure_message


def test_validation_in_a_separate_process_gives_the_same_result(app: Flask, tenant: Tenant) -> None:
    rows = (
        [["Email", "First", "Tags"]]
        + [[f"p{i % 9}@example.com", f"n{i}", "t"] for i in range(25)]
        + [["bad", "", ""]]
    )
    mapping = {"Email": "email", "First": "first_name", "Tags": "tags"}
    threaded = run_import(new_job(tenant, csv_bytes(rows), mapping=mapping).id, batch_size=4)
    other = make_tenant("Forked")
    app.config["IMPORT_PARALLEL_ROWS"] = 0
    forked = run_import(new_job(other, csv_bytes(rows), mapping=mapping).id, batch_size=4)
    assert (forked.status, forked.created_count, forked.updated_count, forked.error_count) == (
        threaded.status,
        threaded.created_count,
        threaded.updated_count,
        threaded.error_count,
    )
    assert snapshot(other.id) == snapshot(tenant.id)


def test_file_error_found_by_the_reading_process_fails_the_import_clearly(
    app: Flask, tenant: Tenant
) -> None:
    app.config.update(IMPORT_PARALLEL_ROWS=0, IMPORT_MAX_ROWS=6)
    content = csv_bytes([["Email"]] + [[f"p{i}@example.com"] for i in range(10)])
    job = new_job(tenant, content, mapping={"Email": "email"})
    job.total_rows = 10  # the pre-count passed; the reader meets the limit while streaming
    db.session.commit()
    job = run_import(job.id, batch_size=4)
    assert job.status == "failed"
    assert "rows" in job.failure_message and "rolled back" in job.failure_message
    assert job.processed_rows == 4 and job.can_rollback
