"""Follow-up imports: a finished import's refused rows, corrected, imported on their own."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.imports.follow_up import can_follow_up, follow_up_of, open_follow_up
from app.imports.importing import run_import
from app.imports.review import problem_key, reviewer_for
from app.imports.rollback_job import run_rollback, start_rollback
from app.models import Contact, ImportJob, Tenant
from tests.imports.conftest import ImportRunner, csv_bytes, snapshot

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
