"""Template filters read right for past and future times."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

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
