"""The review of refused rows before an import: recorded by the dry run, corrected in place,
applied by the import at the right rows."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from app.extensions import db
from app.imports.dry_run import run_dry_run
from app.imports.importing import run_import
from app.imports.refused_rows import problem_key
from app.imports.review import reviewer_for
from app.imports.rollback_job import run_rollback, start_rollback
from app.models import Contact, Correction, ImportJob, ImportRowError, Tenant
from tests.conftest import lock_waiters
from tests.imports.conftest import csv_bytes, new_job, snapshot

pytestmark = pytest.mark.both_databases

MAPPING = {"Email": "email", "Name": "first_name", "Phone": "phone"}
ROWS = [
    ["Email", "Name", "Phone", "Notes"],
    ["ann@x.com", "Ann", "+44 20 7946 0958", "keep"],  # row 2
    ["bob-at-x.com", "Bob", "+44 20 7946 0959", ""],  # 3: invalid email
    ["cy@x.com", "Cy", "12", ""],  # 4: invalid phone
    ["di@x.com", "Di", "nonsense", ""],  # 5: invalid phone
    ["", "Eve", "+44 20 7946 0961", ""],  # 6: no email
]


def draft(
    tenant: Tenant, rows: list[list[str]] = ROWS, mapping: dict[str, str] | None = None
) -> ImportJob:
    """A draft of these rows whose dry run has finished (phone checks on, GB by default)."""
    job = new_job(
        tenant,
        csv_bytes(rows),
        mapping=dict(mapping or MAPPING),
        validate_phone=True,
        default_region="GB",
    )
    job.status = "draft"
    db.session.commit()
    run_dry_run(job.id)
    db.session.refresh(job)
    return job


def test_the_dry_run_records_each_refused_row_with_its_cells_and_problems(tenant: Tenant) -> None:
    job = draft(tenant)
    assert job.dry_run["error_rows"] == 4
    assert job.dry_run["problems"] == {
        problem_key("Phone", "invalid"): 2,
        problem_key("Email", "invalid"): 1,
        problem_key("Email", "missing"): 1,
    }
    reviewer = reviewer_for(job)
    assert reviewer is not None
    assert reviewer.columns == [(0, "Email"), (1, "Name"), (2, "Phone")]  # not the ignored one
    page = reviewer.page()
    assert [r.number for r in page.rows] == [3, 4, 5, 6]
    bob = page.rows[0]
    assert bob.cells == {0: "bob-at-x.com", 1: "Bob", 2: "+44 20 7946 0959"}
    assert list(bob.problems) == [0] and "not a valid email" in bob.problems[0][0].lower()
    phones = reviewer.page(problem=problem_key("Phone", "invalid"))
    assert [r.number for r in phones.rows] == [4, 5]
    totals = reviewer.totals()
    assert (totals.rows, totals.refused, totals.fixed, totals.skipped) == (4, 4, 0, 0)


def test_corrections_are_validated_at_once_and_applied_by_the_import_at_their_rows(
    tenant: Tenant,
) -> None:
    job = draft(tenant)
    reviewer = reviewer_for(job)
    assert reviewer is not None
    fixed = reviewer.save(3, {0: "bob@x.com"}, skip=False)
    assert fixed is not None and fixed.fixed and fixed.corrected(0)
    still = reviewer.save(4, {2: "also wrong"}, skip=False)
    assert still is not None and not still.fixed and "not a valid phone" in still.problems[2][0]
    phone = reviewer.save(4, {2: "020 7946 0960"}, skip=False)
    assert phone is not None and phone.fixed
    assert phone.normalized == {2: "+442079460960"}  # shown as it will be imported
    skipped = reviewer.save(5, {}, skip=True)
    assert skipped is not None and skipped.skipped
    db.session.commit()
    totals = reviewer.totals()
    assert (totals.refused, totals.fixed, totals.skipped) == (1, 2, 1)

    job.status = "pending"
    db.session.commit()
    job = run_import(job.id, batch_size=2)
    assert job.status == "completed"
    assert (job.created_count, job.error_count) == (3, 1)
    assert (job.corrected_rows, job.review_skipped_rows) == (2, 1)
    contacts = snapshot(tenant.id)
    assert sorted(contacts) == ["ann@x.com", "bob@x.com", "cy@x.com"]
    assert contacts["cy@x.com"]["phone"] == "+442079460960"
    # the journal and the error report keep the file's row numbers
    bob = db.session.scalar(select(Contact).where(Contact.email == "bob@x.com"))
    assert bob is not None and bob.created_from_row == 3
    refused = db.session.scalars(select(ImportRowError.row_number)).all()
    assert refused == [6]  # only what is still refused

    start_rollback(job)
    run_rollback(job.id)
    assert snapshot(tenant.id) == {}


def test_bulk_fixes_set_clear_skip_and_transform(tenant: Tenant) -> None:
    rows = [
        ["Email", "Name", "Phone"],
        ["  ANN@X.COM ", "Ann", "12"],
        ["bob@x.com", "Bob", "13"],
        ["cy@x", "Cy", "+44 20 7946 0958"],
    ]
    job = draft(tenant, rows)
    reviewer = reviewer_for(job)
    assert reviewer is not None
    phone = problem_key("Phone", "invalid")
    assert reviewer.fix_problem(phone, "set", "+44 20 7946 0999") == 2
    assert [r.number for r in reviewer.page(problem=phone).rows] == [2, 3]  # still found
    assert reviewer.totals().refused == 1
    assert reviewer.fix_problem(problem_key("Email", "invalid"), "skip") == 1
    assert reviewer.totals().skipped == 1
    assert reviewer.transform_column(0, "lower") == 1  # "  ANN@X.COM " -> "  ann@x.com "
    assert reviewer.transform_column(0, "trim") == 1
    db.session.commit()
    fixes = dict(
        db.session.execute(
            select(Correction.row_number, Correction.value).where(Correction.column_index == 0)
        ).all()
    )
    assert fixes == {2: "ann@x.com"}
    assert reviewer.fix_problem(phone, "clear") == 0  # no row has that problem any more


def test_a_second_dry_run_keeps_corrected_and_skipped_rows_in_the_review(tenant: Tenant) -> None:
    job = draft(tenant)
    reviewer = reviewer_for(job)
    assert reviewer is not None
    reviewer.save(3, {0: "bob@x.com"}, skip=False)
    reviewer.save(5, {}, skip=True)
    db.session.commit()
    run_dry_run(job.id)
    db.session.refresh(job)
    assert job.dry_run["error_rows"] == 2  # rows 4 and 6; 3 fixed, 5 skipped
    assert (job.dry_run["corrected_rows"], job.dry_run["skipped_rows"]) == (1, 1)
    reviewer = reviewer_for(job)
    assert reviewer is not None
    page = reviewer.page()
    assert [(r.number, r.fixed, r.skipped) for r in page.rows] == [
        (3, True, False),
        (4, False, False),
        (5, False, True),
        (6, False, False),
    ]
    # the fixed row is still found by the problem it had
    email = reviewer.page(problem=problem_key("Email", "invalid"))
    assert [r.number for r in email.rows] == [3]


def test_a_column_name_holding_a_bar_is_never_taken_for_another_column(tenant: Tenant) -> None:
    """Problems were `|column\\x1fcode|` text: 'Mobile' matched inside 'Work|Mobile'."""
    rows = [["Email", "Work|Mobile", "Mobile"], ["a@x.com", "12", "5"], ["b@x.com", "", "x"]]
    mapping = {"Email": "email", "Work|Mobile": "phone", "Mobile": "mobile:number"}
    reviewer = reviewer_for(draft(tenant, rows, mapping))
    assert reviewer is not None
    mobile = problem_key("Mobile", "invalid")
    assert [r.row_number for r in reviewer.rows_with(mobile)] == [3]
    assert [r.number for r in reviewer.page(problem=mobile).rows] == [3]
    assert reviewer.fix_problem(mobile, "set", "7") == 1
    db.session.commit()
    assert db.session.scalars(select(Correction.row_number)).all() == [3]


def test_a_row_that_could_not_be_read_stays_refused_until_its_cells_are_corrected(
    tenant: Tenant,
) -> None:
    rows = [["Email", "Name"], ["a@x.com", "Ann", "surplus"], ["b@x.com", "Bob"]]
    job = draft(tenant, rows, {"Email": "email", "Name": "first_name"})
    reviewer = reviewer_for(job)
    assert reviewer is not None
    (row,) = reviewer.page().rows
    assert row.number == 2 and not row.fixed and row.row_problems
    assert reviewer.totals().refused == 1
    row = reviewer.save(2, {1: "Anne"}, skip=False)
    assert row is not None and row.fixed  # the person saw the cells and corrected them
    db.session.commit()
    job.status = "pending"
    db.session.commit()
    job = run_import(job.id)
    assert (job.created_count, job.error_count) == (2, 0)
    assert snapshot(tenant.id)["a@x.com"]["first_name"] == "Anne"


def test_pages_know_what_lies_before_and_after_them(tenant: Tenant) -> None:
    job = draft(tenant)  # refused rows 3, 4, 5, 6
    reviewer = reviewer_for(job)
    assert reviewer is not None
    first = reviewer.page(size=2)
    assert ([r.number for r in first.rows], first.previous_before, first.next_after) == (
        [3, 4],
        None,
        4,
    )
    assert first.first_page
    second = reviewer.page(after=4, size=2)
    assert ([r.number for r in second.rows], second.previous_before, second.next_after) == (
        [5, 6],
        5,
        None,
    )
    back = reviewer.page(before=5, size=2)
    assert [r.number for r in back.rows] == [3, 4] and back.previous_before is None
    assert reviewer.page(after=1, size=2).previous_before is None  # nothing before row 3
    past = reviewer.page(before=99, size=2)
    assert [r.number for r in past.rows] == [5, 6] and past.next_after is None
    empty = reviewer.page(after=6)
    assert empty.rows == [] and not empty.first_page  # offers the way back


@pytest.mark.postgresql_only(reason="row locks order the two runs; SQLite has one writer at a time")
def test_a_dry_run_replaced_by_a_newer_one_stops_without_writing(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers could run two dry runs of one draft (the options changed meanwhile)."""
    import threading

    import app.imports.dry_run as dry_run_module

    engine = db.engine  # the thread has no app context

    def newer_run_starts() -> None:  # waits for the batch holding the job row, as a worker would
        with engine.connect() as other:
            other.execute(
                ImportJob.__table__.update()
                .where(ImportJob.id == job.id)
                .values(dry_run={"processed_rows": 0, "run": "newer"})
            )
            other.commit()

    newer = threading.Thread(target=newer_run_starts)

    rows = [["Email", "Name"], *[[f"p{i}@x.com" if i % 2 else "bad", "P"] for i in range(10)]]
    job = new_job(tenant, csv_bytes(rows), mapping={"Email": "email", "Name": "first_name"})
    job.status = "draft"
    db.session.commit()
    calls = []
    real = dry_run_module.record_refused

    def record(*args: object) -> object:
        calls.append(1)
        if len(calls) == 1:  # a newer dry run starts (on another worker) during the first batch
            newer.start()
            deadline = time.monotonic() + 10
            while lock_waiters() == 0:  # it waits for this batch's lock on the job row
                assert time.monotonic() < deadline, "the newer run never waited for the lock"
                time.sleep(0.01)
        return real(*args)

    checks = []
    still_current = dry_run_module._still_current

    def check(*args: object) -> bool:
        checks.append(1)
        if len(checks) == 2:  # the next batch: once the newer run, let go by its commit, is in
            newer.join(timeout=10)
        return still_current(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(dry_run_module, "record_refused", record)
    monkeypatch.setattr(dry_run_module, "_still_current", check)
    run_dry_run(job.id, batch_size=2)
    newer.join(timeout=10)
    db.session.expire_all()
    assert len(calls) == 1  # stopped at the next batch
    assert job.dry_run == {"processed_rows": 0, "run": "newer"}  # the newer run's, untouched


def test_phone_numbers_without_their_country_are_read_as_numbers_of_one(tenant: Tenant) -> None:
    """The bulk fix for numbers written without a country code in a file of another country."""
    rows = [["Email", "Name", "Phone"], ["a@x.com", "A", "202 555 0143"], ["b@x.com", "B", "12"]]
    reviewer = reviewer_for(draft(tenant, rows))  # the import reads national numbers as GB
    assert reviewer is not None
    phone = problem_key("Phone", "invalid")
    assert reviewer.read_as_country(phone, "US") == 1
    assert reviewer.read_as_country(phone, "XX") == 0  # no such country
    db.session.commit()
    first, second = reviewer.page().rows
    assert first.fixed and first.cells[2] == "+1 202-555-0143"
    assert first.normalized == {2: "+12025550143"}
    assert not second.fixed
