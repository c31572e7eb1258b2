"""Scopes and each filter kind against PostgreSQL, always inside one tenant."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from flask import Flask

from app.exports.query import ExportFilters, ExportQueryError, FieldCondition
from app.exports.service import count_matching
from app.models import Tenant
from tests.conftest import make_tenant
from tests.exports.conftest import add_custom_fields, export_now, person, segment, stored_bytes


@pytest.fixture
def people(app: Flask, tenant: Tenant) -> Tenant:
    """Five contacts of the tenant, and one of another tenant that matches everything."""
    add_custom_fields(tenant)
    person(
        tenant,
        "ada@example.com",
        first_name="Ada",
        company="Acme Corp",
        tags=("vip", "customer"),
        segments=("Warm leads",),
        created=datetime(2025, 1, 10, 9, tzinfo=UTC),
        updated=datetime(2025, 6, 1, tzinfo=UTC),
        emails_opened=12,
        emails_clicked=4,
        last_engaged_at=datetime(2025, 5, 20, tzinfo=UTC),
        custom={"zip": "01234", "score": 90},
    )
    person(
        tenant,
        "grace@example.com",
        first_name="Grace",
        company="Globex",
        tags=("customer",),
        created=datetime(2025, 2, 1, tzinfo=UTC),
        updated=datetime(2025, 2, 1, tzinfo=UTC),
        emails_opened=3,
        subscription_status="unsubscribed",
        custom={"zip": "75001", "score": 10},
    )
    person(
        tenant,
        "alan@example.org",
        first_name="Alan",
        company=None,
        tags=("vip",),
        segments=("Warm leads",),
        created=datetime(2025, 3, 31, 23, 59, tzinfo=UTC),
        updated=datetime(2025, 4, 1, tzinfo=UTC),
        emails_opened=30,
        emails_clicked=9,
        last_engaged_at=datetime(2025, 4, 2, tzinfo=UTC),
        custom={"zip": ""},
    )
    person(
        tenant,
        "linus@example.org",
        first_name="Linus",
        company="acme labs",
        created=datetime(2025, 4, 1, tzinfo=UTC),
        updated=datetime(2025, 4, 2, tzinfo=UTC),
        subscription_status="bounced",
    )
    person(
        tenant,
        "100%_sure@example.net",
        first_name="Percy",
        company="50% off_co",
        created=datetime(2025, 5, 1, tzinfo=UTC),
        updated=datetime(2025, 5, 1, tzinfo=UTC),
    )
    other = make_tenant("Globex")
    add_custom_fields(other)
    person(
        other,
        "spy@globex.test",
        first_name="Ada",
        company="Acme Corp",
        tags=("vip", "customer"),
        segments=("Warm leads",),
        created=datetime(2025, 1, 10, tzinfo=UTC),
        emails_opened=99,
        emails_clicked=99,
        last_engaged_at=datetime(2025, 6, 1, tzinfo=UTC),
        custom={"zip": "01234", "score": 90},
    )
    return tenant


def emails(app: Flask, tenant: Tenant, export_type: str = "filtered", **filters) -> list[str]:
    """The emails an export with these filters writes, checked against the live count."""
    spec = ExportFilters(**filters)
    job = export_now(tenant, ["email"], export_type=export_type, filters=spec)
    assert job.status == "completed", job.failure_message
    rows = list(csv.reader(io.StringIO(stored_bytes(app, job).decode())))[1:]
    found = sorted(r[0] for r in rows)
    assert count_matching(tenant.id, export_type, spec) == len(found) == job.total_contacts
    return found


def test_all_contacts_are_only_the_tenants_own(app: Flask, people: Tenant) -> None:
    assert len(emails(app, people, "full")) == 5
    assert "spy@globex.test" not in emails(app, people, "full")


def test_full_scope_ignores_filters(app: Flask, people: Tenant) -> None:
    assert len(emails(app, people, "full", statuses=["bounced"])) == 5


def test_segment_scope(app: Flask, people: Tenant) -> None:
    warm = segment(people, "Warm leads")
    assert emails(app, people, "segment", segment_id=str(warm.id)) == [
        "ada@example.com",
        "alan@example.org",
    ]


def test_segment_scope_with_a_filter(app: Flask, people: Tenant) -> None:
    warm = segment(people, "Warm leads")
    assert emails(app, people, "segment", segment_id=str(warm.id), min_clicked=5) == [
        "alan@example.org"
    ]


def test_another_tenants_segment_cannot_be_exported(app: Flask, people: Tenant) -> None:
    globex = make_tenant("Initech")
    theirs = segment(globex, "Theirs")
    with pytest.raises(ExportQueryError):
        count_matching(people.id, "segment", ExportFilters(segment_id=str(theirs.id)))


def test_has_any_of_the_tags(app: Flask, people: Tenant) -> None:
    assert emails(app, people, tags=["VIP", "customer"], tags_mode="any") == [
        "ada@example.com",
        "alan@example.org",
        "grace@example.com",
    ]


def test_has_all_of_the_tags(app: Flask, people: Tenant) -> None:
    assert emails(app, people, tags=["vip", "customer"], tags_mode="all") == ["ada@example.com"]


def test_unknown_tag_matches_nobody(app: Flask, people: Tenant) -> None:
    assert emails(app, people, tags=["nope"]) == []
    assert emails(app, people, tags=["vip", "nope"], tags_mode="all") == []


def test_created_between_takes_whole_days(app: Flask, people: Tenant) -> None:
    assert emails(app, people, created_from="2025-02-01", created_to="2025-03-31") == [
        "alan@example.org",
        "grace@example.com",
    ]


def test_the_last_and_first_days_there_are_work_as_bounds(app: Flask, people: Tenant) -> None:
    everyone = emails(app, people)
    assert emails(app, people, created_to="9999-12-31", updated_to="9999-12-31") == everyone
    assert emails(app, people, created_from="0001-01-01", updated_from="0001-01-01") == everyone


def test_updated_between(app: Flask, people: Tenant) -> None:
    assert emails(app, people, updated_from="2025-04-02") == [
        "100%_sure@example.net",
        "ada@example.com",
        "linus@example.org",
    ]
    assert emails(app, people, updated_to="2025-02-01") == ["grace@example.com"]


def test_subscription_status(app: Flask, people: Tenant) -> None:
    assert emails(app, people, statuses=["unsubscribed", "bounced"]) == [
        "grace@example.com",
        "linus@example.org",
    ]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (FieldCondition("company", "equals", "ACME CORP"), ["ada@example.com"]),
        (FieldCondition("company", "contains", "acme"), ["ada@example.com", "linus@example.org"]),
        (FieldCondition("company", "contains", "50%"), ["100%_sure@example.net"]),
        (FieldCondition("company", "contains", "f_c"), ["100%_sure@example.net"]),
        (FieldCondition("company", "empty"), ["alan@example.org"]),
        (FieldCondition("email", "equals", " Grace@Example.com "), ["grace@example.com"]),
        (FieldCondition("email", "contains", "%"), ["100%_sure@example.net"]),
        (FieldCondition("custom:zip", "equals", "01234"), ["ada@example.com"]),
        (FieldCondition("custom:zip", "contains", "0"), ["ada@example.com", "grace@example.com"]),
        (
            FieldCondition("custom:zip", "empty"),
            ["100%_sure@example.net", "alan@example.org", "linus@example.org"],
        ),
        (FieldCondition("custom:zip", "not_empty"), ["ada@example.com", "grace@example.com"]),
        (FieldCondition("custom:score", "equals", "90"), ["ada@example.com"]),
    ],
    ids=lambda v: f"{v.field}-{v.op}-{v.value}" if isinstance(v, FieldCondition) else None,
)
def test_field_conditions(
    app: Flask, people: Tenant, condition: FieldCondition, expected: list[str]
) -> None:
    assert emails(app, people, conditions=[condition]) == expected


def test_engagement_thresholds(app: Flask, people: Tenant) -> None:
    assert emails(app, people, min_opened=12) == ["ada@example.com", "alan@example.org"]
    assert emails(app, people, min_clicked=5) == ["alan@example.org"]
    assert emails(app, people, engaged_since="2025-05-01") == ["ada@example.com"]


def test_filters_combine(app: Flask, people: Tenant) -> None:
    assert emails(
        app,
        people,
        tags=["vip"],
        min_opened=1,
        conditions=[FieldCondition("company", "contains", "acme")],
    ) == ["ada@example.com"]


def test_filters_survive_the_round_trip_through_json() -> None:
    spec = ExportFilters(
        segment_id="x", tags=["a"], conditions=[FieldCondition("company", "contains", "b")]
    )
    assert ExportFilters.from_dict(spec.to_dict()) == spec
