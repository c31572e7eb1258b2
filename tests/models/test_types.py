"""Primary keys: unique, version 7, ordered by creation time."""

from __future__ import annotations

import time

from app.models.types import new_id


def test_new_ids_are_unique_version_7_uuids() -> None:
    ids = [new_id() for _ in range(5000)]
    assert len(set(ids)) == 5000
    assert {i.version for i in ids} == {7}
    assert {i.variant for i in ids} == {"specified in RFC 4122"}


def test_new_ids_sort_by_the_millisecond_they_were_made_in() -> None:
    first = new_id()
    time.sleep(0.003)
    second = new_id()
    assert first < second
    assert abs((second.int >> 80) - time.time_ns() // 1_000_000) < 5000
