"""Template filters read right for past and future times."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient

from app.extensions import db
from app.models import Tenant, User
from app.web.formatting import availability

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expires_at", "text"),
    [
        (NOW + timedelta(days=7), "available for 7 more days, until 13 Dec"),
        (NOW + timedelta(hours=5), "available for 5 more hours, until 6 Dec"),
        (NOW + timedelta(days=30), "available for 30 more days, until 5 Jan 2027"),
        (NOW - timedelta(days=2), "expired 2 days ago"),
        (NOW - timedelta(seconds=5), "expired just now"),
    ],
)
def test_availability_reads_right_before_and_after_the_expiry(
    expires_at: datetime, text: str
) -> None:
    assert re.sub(r"<[^>]+>", "", availability(expires_at, NOW)) == text


def test_a_count_of_one_is_singular_and_others_plural_with_thousands_separated() -> None:
    from app.web.formatting import counted

    assert counted(1, "row") == "1 row"
    assert (counted(0, "row"), counted(2, "contact")) == ("0 rows", "2 contacts")
    assert counted(1234567, "change") == "1,234,567 changes"


def test_an_export_of_one_contact_says_so_in_the_history(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    from app.models import ExportJob

    db.session.add(
        ExportJob(
            tenant_id=tenant.id, export_type="full", file_format="csv", status="completed",
            total_contacts=1,
        )
    )  # fmt: skip
    db.session.commit()
    page = client.get("/history").get_data(as_text=True)
    assert "CSV · 1 contact\n" in page and "1 contacts" not in page
