"""Consent on import: statuses from the file, the default for new contacts, suppression lists,
never re-subscribing, the dry run's count and an exact rollback; on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_migrate import upgrade

from app import create_app
from app.extensions import db
from app.imports.consent import status_reader
from app.imports.conversions import ConversionError
from app.imports.dry_run import run_dry_run
from app.imports.dry_run_result import StatusChange
from app.imports.importing import run_import
from app.imports.rollback_job import run_rollback, start_rollback
from app.models import Contact, ImportJob, Tenant
from tests.conftest import make_env, make_tenant
from tests.imports.conftest import add_contact, csv_bytes, new_job, snapshot


@pytest.fixture(params=["postgresql", "sqlite"])
def tenant(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[Tenant]:
    """A tenant on the test PostgreSQL database, or on a fresh SQLite file (the embedded default)."""
    if request.param == "postgresql":
        request.getfixturevalue("app")
        yield make_tenant("Consent")
        return
    env = make_env(tmp_path, f"sqlite:///{tmp_path / 'lite.db'}", redis_url)
    app: Flask = create_app({"ENV": env, "TESTING": True})
    with app.app_context():
        upgrade()
        yield make_tenant("Consent")
        db.session.remove()
        db.engine.dispose()


def imported(tenant: Tenant, rows: list[list[str]], **options: Any) -> ImportJob:
    mapping = options.pop("mapping", None) or {h: _spec(h) for h in rows[0]}
    job = run_import(new_job(tenant, csv_bytes(rows), mapping=mapping, **options).id, batch_size=2)
    assert job.status == "completed", job.failure_message
    return job


def _spec(header: str) -> str:
    return {
        "Email": "email",
        "Status": "subscription_status",
        "Unsubscribed from all email": "subscription_status",
        "Opt-in": "subscription_status",
        "OPTIN_TIME": "consented_on",
        "UNSUB_TIME": "unsubscribed_on",
        "Name": "first_name",
    }[header]


def statuses(tenant: Tenant) -> dict[str, str]:
    return {email: c["status"] for email, c in snapshot(tenant.id).items()}


def test_mailchimp_klaviyo_words_set_each_new_contact_status(tenant: Tenant) -> None:
    imported(
        tenant,
        [
            ["Email", "Status"],
            ["a@x.com", "subscribed"],
            ["b@x.com", "Unsubscribed"],
            ["c@x.com", "cleaned"],
            ["d@x.com", "non-subscribed"],
            ["e@x.com", "NEVER_SUBSCRIBED"],
            ["f@x.com", ""],
        ],
    )
    assert statuses(tenant) == {
        "a@x.com": "subscribed",
        "b@x.com": "unsubscribed",
        "c@x.com": "bounced",
        "d@x.com": "non_subscribed",
        "e@x.com": "non_subscribed",
        "f@x.com": "non_subscribed",  # no status in the file: the import's default
    }


def test_a_hubspot_unsubscribed_yes_no_column_reads_true_as_unsubscribed(tenant: Tenant) -> None:
    imported(
        tenant,
        [["Email", "Unsubscribed from all email"], ["a@x.com", "true"], ["b@x.com", "false"]],
        new_contact_status="subscribed",
        consent_confirmed=True,
    )
    assert statuses(tenant) == {"a@x.com": "unsubscribed", "b@x.com": "subscribed"}


def test_an_opt_in_yes_no_column_reads_true_as_subscribed(tenant: Tenant) -> None:
    imported(tenant, [["Email", "Opt-in"], ["a@x.com", "yes"], ["b@x.com", "no"]])
    assert statuses(tenant) == {"a@x.com": "subscribed", "b@x.com": "non_subscribed"}


def test_new_contacts_are_subscribed_only_with_confirmed_permission(tenant: Tenant) -> None:
    refused = run_import(
        new_job(
            tenant, csv_bytes([["Email"], ["a@x.com"]]), mapping={"Email": "email"},
            new_contact_status="subscribed",
        ).id
    )  # fmt: skip
    assert refused.status == "failed"
    assert "only be subscribed when you confirm they gave permission" in refused.failure_message
    assert statuses(tenant) == {}
    imported(
        tenant, [["Email"], ["a@x.com"]], new_contact_status="subscribed", consent_confirmed=True
    )
    assert statuses(tenant) == {"a@x.com": "subscribed"}


def test_unsubscribed_and_bounced_contacts_are_never_subscribed_again(tenant: Tenant) -> None:
    add_contact(tenant, "gone@x.com", subscription_status="unsubscribed")
    add_contact(tenant, "bounced@x.com", subscription_status="bounced")
    add_contact(tenant, "quiet@x.com", subscription_status="bounced")
    add_contact(tenant, "kept@x.com", subscription_status="subscribed")
    imported(
        tenant,
        [
            ["Email", "Status"],
            ["gone@x.com", "subscribed"],
            ["bounced@x.com", "unsubscribed"],
            ["quiet@x.com", "non-subscribed"],
            ["kept@x.com", ""],
        ],
    )
    assert statuses(tenant) == {
        "gone@x.com": "unsubscribed",
        "bounced@x.com": "unsubscribed",  # only unsubscribed may replace bounced
        "quiet@x.com": "bounced",
        "kept@x.com": "subscribed",  # a blank cell says nothing
    }


def test_a_suppression_list_unsubscribes_everyone_in_it_and_rolls_back_exactly(
    tenant: Tenant,
) -> None:
    add_contact(tenant, "fan@x.com", subscription_status="subscribed", first_name="Fan")
    add_contact(tenant, "new@x.com", subscription_status="non_subscribed")
    before = snapshot(tenant.id)
    job = imported(
        tenant,
        [["Email", "Status"], ["fan@x.com", "subscribed"], ["new@x.com", ""], ["x@x.com", ""]],
        suppression_list=True,
    )
    assert statuses(tenant) == {
        "fan@x.com": "unsubscribed",
        "new@x.com": "unsubscribed",
        "x@x.com": "unsubscribed",
    }
    start_rollback(job)
    run_rollback(job.id)
    assert snapshot(tenant.id) == before


def test_the_dry_run_says_how_many_contacts_would_change_status_and_how(tenant: Tenant) -> None:
    add_contact(tenant, "a@x.com", subscription_status="subscribed")
    add_contact(tenant, "b@x.com", subscription_status="subscribed")
    add_contact(tenant, "c@x.com", subscription_status="unsubscribed")
    rows = [
        ["Email", "Status"],
        ["a@x.com", "unsubscribed"],
        ["b@x.com", "unsubscribed"],
        ["c@x.com", "subscribed"],
        ["d@x.com", ""],
        ["e@x.com", "subscribed"],
    ]
    job = new_job(
        tenant, csv_bytes(rows), mapping={"Email": "email", "Status": "subscription_status"}
    )
    job.status = "draft"
    db.session.commit()
    result = run_dry_run(job.id)
    assert result.status_changes == (
        StatusChange("subscribed", "unsubscribed", 2),
        StatusChange("new", "non_subscribed", 1),
        StatusChange("new", "subscribed", 1),
    )
    assert statuses(tenant)["a@x.com"] == "subscribed"  # a dry run writes nothing


def test_a_rollback_restores_each_status_it_changed(tenant: Tenant) -> None:
    add_contact(tenant, "a@x.com", subscription_status="subscribed")
    add_contact(tenant, "b@x.com", subscription_status="bounced")
    before = snapshot(tenant.id)
    job = imported(
        tenant,
        [["Email", "Status"], ["a@x.com", "unsubscribed"], ["b@x.com", "unsubscribed"]],
    )
    assert statuses(tenant) == {"a@x.com": "unsubscribed", "b@x.com": "unsubscribed"}
    start_rollback(job)
    done = run_rollback(job.id)
    assert done.status == "rolled_back"
    assert snapshot(tenant.id) == before


def test_consent_and_unsubscribe_dates_are_kept_from_their_columns(tenant: Tenant) -> None:
    add_contact(tenant, "old@x.com", subscription_status="subscribed")
    job = imported(
        tenant,
        [
            ["Email", "Status", "OPTIN_TIME", "UNSUB_TIME"],
            ["a@x.com", "subscribed", "2024-03-01 10:15:00", ""],
            ["old@x.com", "unsubscribed", "2023-01-05", "2025-11-30"],
        ],
    )
    db.session.expire_all()
    dates = {
        c.email: (c.consented_on, c.unsubscribed_on)
        for c in db.session.query(Contact).filter_by(tenant_id=tenant.id)
    }
    assert dates == {
        "a@x.com": (date(2024, 3, 1), None),
        "old@x.com": (date(2023, 1, 5), date(2025, 11, 30)),
    }
    start_rollback(job)
    run_rollback(job.id)
    db.session.expire_all()
    old = db.session.query(Contact).filter_by(email="old@x.com").one()
    assert (old.subscription_status, old.consented_on, old.unsubscribed_on) == (
        "subscribed",
        None,
        None,
    )


def test_a_status_nobody_can_read_is_a_row_error_naming_row_and_column(tenant: Tenant) -> None:
    job = imported(tenant, [["Email", "Status"], ["a@x.com", "maybe later"], ["b@x.com", "yes"]])
    assert (job.created_count, job.error_count) == (1, 1)
    (error,) = job.errors
    assert error["row"] == 2 and error["column"] == "Status"
    assert error["message"] == (
        "'maybe later' in column 'Status' is not a subscription status: use subscribed, "
        "non-subscribed, unsubscribed or cleaned (yes/no works too)."
    )


@pytest.mark.parametrize(
    ("header", "value", "status"),
    [
        ("Email Marketing Consent", "SUBSCRIBED", "subscribed"),
        ("Email Marketing Consent", "SUPPRESSED", "unsubscribed"),
        ("Opted out of email", "TRUE", "unsubscribed"),
        ("Opted out of email", "FALSE", None),
        ("Blacklisted", "yes", "unsubscribed"),
        ("Email Status", "opted in", "subscribed"),
        ("Member Status", "pending", "non_subscribed"),
    ],
)
def test_status_vocabularies_of_common_exports(header: str, value: str, status: str | None) -> None:
    assert status_reader(header)(value) == status


def test_a_status_reader_refuses_other_words() -> None:
    with pytest.raises(ConversionError):
        status_reader("Status")("sometimes")


@pytest.mark.parametrize("strategy", ["skip", "create", "update"])
def test_a_suppression_list_unsubscribes_existing_contacts_whatever_the_strategy(
    tenant: Tenant, strategy: str
) -> None:
    add_contact(tenant, "fan@x.com", subscription_status="subscribed", first_name="Fan")
    before = snapshot(tenant.id)
    job = imported(
        tenant,
        [["Email", "Name"], ["fan@x.com", "Changed"], ["new@x.com", "New"]],
        suppression_list=True,
        duplicate_strategy=strategy,
        field_rules={"subscription_status": "never"} if strategy == "update" else {},
    )
    contacts = snapshot(tenant.id)
    assert {e: c["status"] for e, c in contacts.items()} == {
        "fan@x.com": "unsubscribed",
        "new@x.com": "unsubscribed",
    }
    expected_name = "Changed" if strategy == "update" else "Fan"
    assert contacts["fan@x.com"]["first_name"] == expected_name  # the strategy still rules
    start_rollback(job)
    run_rollback(job.id)
    assert snapshot(tenant.id) == before


def test_fill_only_if_empty_never_replaces_a_status(tenant: Tenant) -> None:
    add_contact(tenant, "a@x.com", subscription_status="non_subscribed")
    imported(
        tenant,
        [["Email", "Status"], ["a@x.com", "subscribed"]],
        field_rules={"subscription_status": "fill_empty"},
    )
    assert statuses(tenant) == {"a@x.com": "non_subscribed"}


def test_a_dry_run_counts_an_existing_contact_repeated_across_batches_once(tenant: Tenant) -> None:
    add_contact(tenant, "a@x.com", subscription_status="subscribed")
    rows = [
        ["Email", "Status"],
        ["a@x.com", "unsubscribed"],
        ["b@x.com", ""],
        ["a@x.com", "unsubscribed"],  # the next batch (2 rows a batch)
    ]
    job = new_job(
        tenant, csv_bytes(rows), mapping={"Email": "email", "Status": "subscription_status"}
    )
    job.status = "draft"
    db.session.commit()
    result = run_dry_run(job.id, batch_size=2)
    assert (result.would_update, result.would_repeat, result.would_create) == (1, 1, 1)
    assert result.status_changes == (
        StatusChange("new", "non_subscribed", 1),
        StatusChange("subscribed", "unsubscribed", 1),
    )
    assert result.field_changes == {"subscription_status": 1}
