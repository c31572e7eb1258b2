"""Follow-up imports: a finished import's refused rows, corrected, imported on their own."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.imports.dry_run import run_dry_run
from app.imports.follow_up import (
    can_follow_up,
    corrected_row_numbers,
    follow_up_of,
    open_follow_up,
    why_not_startable,
)
from app.imports.importing import run_import
from app.imports.refused_rows import problem_key
from app.imports.review import reviewer_for
from app.imports.rollback_job import run_rollback, start_rollback
from app.models import Contact, ImportJob, Tenant
from tests.imports.conftest import ImportRunner, csv_bytes, new_job, snapshot

pytestmark = pytest.mark.both_databases

MAPPING = {"Email": "email", "Name": "first_name", "Phone": "phone"}
FILE = csv_bytes(
    [
        ["Email", "Name", "Phone"],
        ["ann@x.com", "Ann", "+44 20 7946 0958"],  # row 2
        ["bob-at-x.com", "Bob", ""],  # 3: invalid email
        ["cy@x.com", "Cy", "12"],  # 4: invalid phone
        ["di@x.com", "Di", "nonsense"],  # 5: invalid phone
        ["eve@x.com", "Eve", ""],  # 6
    ]
)


def first_import(run: ImportRunner, tenant: Tenant) -> ImportJob:
    job = run(
        tenant, FILE, mapping=dict(MAPPING), validate_phone=True, default_region="GB", batch_size=2
    )
    assert (job.status, job.created_count, job.error_count) == ("completed", 2, 3)
    return job


def test_a_follow_up_imports_only_the_corrected_rows_and_rolls_back_on_its_own(
    run: ImportRunner, tenant: Tenant
) -> None:
    job = first_import(run, tenant)
    assert can_follow_up(job)
    draft = open_follow_up(job, None)
    assert open_follow_up(job, None).id == draft.id  # made once
    assert follow_up_of(job).id == draft.id and not can_follow_up(job)
    assert (draft.status, draft.follow_up_of, draft.file_url) == ("draft", job.id, job.file_url)
    assert draft.dry_run["problems"] == {
        problem_key("Phone", "invalid"): 2,
        problem_key("Email", "invalid"): 1,
    }
    reviewer = reviewer_for(draft)
    assert reviewer is not None
    assert [r.number for r in reviewer.page().rows] == [3, 4, 5]
    assert reviewer.save(3, {0: "bob@x.com"}, skip=False).fixed
    assert reviewer.save(4, {2: "020 7946 0960"}, skip=False).fixed
    # row 5 left as it was: not imported by the follow-up, not refused again either
    db.session.commit()

    draft.status = "pending"
    db.session.commit()
    follow = run_import(draft.id, batch_size=2)
    assert (follow.status, follow.created_count, follow.updated_count, follow.error_count) == (
        "completed",
        2,
        0,
        0,
    )
    assert follow.corrected_rows == 2
    assert follow.total_rows == 3  # rows 2 to 4 read: the file's row 5 and after were not needed
    contacts = snapshot(tenant.id)
    assert sorted(contacts) == ["ann@x.com", "bob@x.com", "cy@x.com", "eve@x.com"]
    bob = db.session.scalar(select(Contact).where(Contact.email == "bob@x.com"))
    assert bob is not None
    assert (bob.created_by_import_id, bob.created_from_row) == (follow.id, 3)

    start_rollback(follow)
    run_rollback(follow.id)
    assert sorted(snapshot(tenant.id)) == ["ann@x.com", "eve@x.com"]  # the first import's
    db.session.refresh(job)
    start_rollback(job)
    run_rollback(job.id)
    assert snapshot(tenant.id) == {}
    db.session.refresh(job)
    assert can_follow_up(job) is False  # rolled back: nothing left to follow up


def test_a_rolled_back_follow_up_can_be_made_again(run: ImportRunner, tenant: Tenant) -> None:
    job = first_import(run, tenant)
    draft = open_follow_up(job, None)
    reviewer = reviewer_for(draft)
    assert reviewer is not None
    reviewer.save(3, {0: "bob@x.com"}, skip=False)
    draft.status = "pending"
    db.session.commit()
    follow = run_import(draft.id)
    start_rollback(follow)
    run_rollback(follow.id)
    db.session.refresh(job)
    assert can_follow_up(job)
    again = open_follow_up(job, None)
    assert again.id != follow.id and again.status == "draft"


def test_the_first_imports_own_corrections_are_kept_in_its_follow_up(
    run: ImportRunner, tenant: Tenant
) -> None:
    """The review showed row 3 as the first import read it (its name corrected there); the
    follow-up re-read the file and imported the name as the file had it."""
    rows = [["Email", "Name"], ["bob-at-x.com", "<b>Bob</b>"], ["ann@x.com", "Ann"]]
    job = new_job(tenant, csv_bytes(rows), mapping={"Email": "email", "Name": "first_name"})
    job.status = "draft"
    db.session.commit()
    run_dry_run(job.id)
    db.session.refresh(job)
    first_review = reviewer_for(job)
    assert first_review is not None
    first_review.save(2, {1: "Bob"}, skip=False)  # the name fixed, the email still wrong
    job.status = "pending"
    db.session.commit()
    job = run_import(job.id)
    assert job.error_count == 1
    draft = open_follow_up(job, None)
    reviewer = reviewer_for(draft)
    assert reviewer is not None
    (row,) = reviewer.page().rows
    assert row.cells == {0: "bob-at-x.com", 1: "Bob"}
    reviewer.save(2, {0: "bob@x.com"}, skip=False)
    draft.status = "pending"
    db.session.commit()
    follow = run_import(draft.id)
    assert (follow.created_count, follow.error_count) == (1, 0)
    assert snapshot(tenant.id)["bob@x.com"]["first_name"] == "Bob"


def test_a_row_corrected_but_still_wrong_is_not_imported_by_the_follow_up(
    run: ImportRunner, tenant: Tenant
) -> None:
    job = first_import(run, tenant)
    draft = open_follow_up(job, None)
    reviewer = reviewer_for(draft)
    assert reviewer is not None
    reviewer.save(3, {0: "bob@x.com"}, skip=False)
    reviewer.save(4, {2: "still wrong"}, skip=False)
    db.session.commit()
    assert corrected_row_numbers(draft.id) == {3}
    draft.status = "pending"
    db.session.commit()
    follow = run_import(draft.id)
    assert (follow.created_count, follow.error_count) == (1, 0)


def test_no_follow_up_of_a_rolled_back_import_nor_one_whose_file_expired(
    run: ImportRunner, tenant: Tenant
) -> None:
    job = first_import(run, tenant)
    draft = open_follow_up(job, None)
    assert why_not_startable(job) is None
    start_rollback(job)
    run_rollback(job.id)
    db.session.refresh(job)
    assert why_not_startable(job) is not None and not can_follow_up(job)
    other = first_import(run, tenant)
    other.file_url = None  # the retention clean-up deleted it
    db.session.commit()
    assert not can_follow_up(other)
    assert draft.status == "draft"


def test_the_file_stays_while_a_follow_up_reads_it(run: ImportRunner, tenant: Tenant) -> None:
    """Discarding the follow-up, or the retention clean-up of the first import, deleted the
    file both share."""
    from datetime import timedelta

    from app.imports.drafts import discard
    from app.imports.service import storage
    from app.jobs.maintenance import expire_import_files
    from app.models.types import utcnow

    job = first_import(run, tenant)
    key = job.file_url
    draft = open_follow_up(job, None)
    job.created_at = utcnow() - timedelta(days=400)
    db.session.commit()
    assert expire_import_files(storage()) == 0  # its follow-up is being corrected
    db.session.refresh(job)
    assert job.file_url == key and storage().exists(key)
    discard(draft)
    assert storage().exists(key)  # the first import still names it
    assert expire_import_files(storage()) >= 1
    assert not storage().exists(key)
