"""Rows that repeat an email of an earlier row of the file: counted on their own line, the
later row wins; in the import, its dry run and the pages that show them."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from app.extensions import db
from app.imports.dry_run import run_dry_run
from app.imports.dry_run_result import Repeat
from app.models import Tenant, User
from tests.imports.conftest import MAPPING, ImportRunner, add_contact, csv_bytes, new_job, snapshot

pytestmark = pytest.mark.both_databases

HEADER = ["Email", "First", "Last", "Company", "Phone", "Tags"]


@pytest.mark.parametrize("batch_size", [10, 1])  # in one batch, and across batches
def test_a_repeated_email_in_an_all_new_file_is_counted_apart_and_the_later_row_wins(
    run: ImportRunner, tenant: Tenant, batch_size: int
) -> None:
    rows = [HEADER, ["a@x.com", "Ann", "", "", "", ""], ["b@x.com", "Bob", "", "", "", ""],
            ["A@x.com", "Anna", "", "", "", ""]]  # fmt: skip
    job = run(tenant, csv_bytes(rows), mapping=MAPPING, batch_size=batch_size)
    assert (job.created_count, job.updated_count, job.unchanged_count) == (2, 0, 0)
    assert (job.repeated_count, job.imported_count) == (1, 3)
    assert snapshot(tenant.id)["a@x.com"]["first_name"] == "Anna"


def test_a_repeat_that_changes_a_contact_the_earlier_row_left_unchanged_is_written(
    run: ImportRunner, tenant: Tenant
) -> None:
    """The repeat's values were counted as an update but never written."""
    add_contact(tenant, "a@x.com", first_name="Ann")
    rows = [HEADER, ["a@x.com", "Ann", "", "", "", ""], ["a@x.com", "Anna", "", "", "", ""]]
    job = run(tenant, csv_bytes(rows), mapping=MAPPING, batch_size=10)
    assert (job.unchanged_count, job.repeated_count, job.updated_count) == (1, 1, 0)
    assert snapshot(tenant.id)["a@x.com"]["first_name"] == "Anna"


def test_the_dry_run_counts_repeats_on_their_own_line_with_examples(tenant: Tenant) -> None:
    rows = [HEADER, ["a@x.com", "Ann", "", "", "", ""], ["b@x.com", "", "", "", "", ""],
            ["a@x.com", "Anna", "", "", "", ""], ["a@x.com", "Annie", "", "", "", ""]]  # fmt: skip
    job = new_job(tenant, csv_bytes(rows), mapping=MAPPING)
    job.status = "draft"
    db.session.commit()
    result = run_dry_run(job.id, batch_size=2)
    assert (result.would_create, result.would_update, result.would_repeat) == (2, 0, 2)
    assert result.repeats == (Repeat(row=4, first_row=2), Repeat(row=5, first_row=2))


def test_the_review_and_the_finished_import_say_the_later_row_wins(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    from tests.web.test_wizard import draft_of, options_form, post, through_mapping, upload, work

    content = csv_bytes([["Email", "Name"], ["a@x.com", "Ann"], ["a@x.com", "Anna"]])
    job = draft_of(upload(client, content))
    through_mapping(client, job)
    post(client, f"/imports/{job.id}/options", {**options_form(), "action": "continue"})
    work()
    page = client.get(f"/imports/{job.id}/confirm").get_data(as_text=True)
    assert (
        "1 row repeats the email of an earlier row (row 3 repeats row 2): the later row wins."
        in page
    )
    post(client, f"/imports/{job.id}/start", {})
    work()
    page = client.get(f"/imports/{job.id}").get_data(as_text=True)
    assert 'id="count-repeated">1<' in page
    assert "repeated an earlier row" in page


@pytest.mark.parametrize("strategy", ["update", "skip", "create"])
@pytest.mark.parametrize("batch_size", [20, 2])  # repeats inside one batch, and across batches
def test_the_dry_run_predicts_the_imports_counts_and_segment_whatever_the_batches(
    run: ImportRunner, tenant: Tenant, strategy: str, batch_size: int
) -> None:
    from sqlalchemy import func, select

    from app.models import Segment, segment_contacts

    add_contact(tenant, "old@x.com", first_name="Old")
    add_contact(tenant, "also@x.com", first_name="Also")
    rows = [HEADER, ["old@x.com", "Ann", "", "", "", ""], ["OLD@x.com", "Anna", "", "", "", ""],
            ["new@x.com", "Nina", "", "", "", ""], ["also@x.com", "Also", "", "", "", ""],
            ["two@x.com", "Two", "", "", "", ""], ["new@x.com", "Nino", "", "", "", ""],
            ["also@x.com", "Al", "", "", "", ""]]  # fmt: skip
    options = {"mapping": MAPPING, "duplicate_strategy": strategy, "segment_name": "Fair"}
    draft = new_job(tenant, csv_bytes(rows), **options)
    draft.status = "draft"
    db.session.commit()
    predicted = run_dry_run(draft.id, batch_size=batch_size)

    job = run(tenant, csv_bytes(rows), batch_size=batch_size, **options)
    members = db.session.scalar(
        select(func.count())
        .select_from(segment_contacts)
        .join(Segment, Segment.id == segment_contacts.c.segment_id)
        .where(Segment.tenant_id == tenant.id, Segment.name == "Fair")
    )
    assert (
        predicted.would_create,
        predicted.would_update,
        predicted.would_leave_unchanged,
        predicted.would_skip,
        predicted.would_repeat,
        predicted.segment.would_join if predicted.segment else None,
    ) == (
        job.created_count,
        job.updated_count,
        job.unchanged_count,
        job.skipped_count,
        job.repeated_count,
        members,
    )
