"""A dry run's `DryRunResult`: each stage is stored in snake_case and read back as it was."""

from __future__ import annotations

from typing import Any

import pytest

from app.imports.dry_run_result import DryRunResult, DryRunStage, Repeat, SegmentChange

STORED_COUNTS: dict[str, Any] = {
    "processed_rows": 6,
    "would_create": 2,
    "would_update": 1,
    "would_leave_unchanged": 1,
    "would_skip": 0,
    "would_repeat": 1,
    "repeats": [{"row": 5, "first_row": 4}],
    "error_rows": 1,
    "errors": [{"row": 6, "column": "Email", "value": "bad", "message": "Row 6: not an email."}],
    "field_changes": {"company": 1, "custom:favoriteColor": 1},  # field names: data, as they are
    "segment": {"name": "Fair", "would_join": 3, "already_in": 1},
    "unsubscribed_matches": 1,
    "status_changes": [{"from": "new", "to": "subscribed", "count": 2}],
    "domain_typos": [{"domain": "gamil.com", "suggestion": "gmail.com", "count": 1, "rows": [4]}],
    "problems": {"Email\x1finvalid": 1},
    "headers": ["Email", "Company"],
    "corrected_rows": 1,
    "skipped_rows": 0,
}
"""A whole file's counts as the dry run stores them, every field set."""


@pytest.mark.parametrize(
    "stored",
    [
        STORED_COUNTS,
        {**STORED_COUNTS, "segment": None},
        {"processed_rows": 2000, "run": "a1b2"},
        {"processed_rows": 0, "run": None},
        {"error": "The file is empty."},
        {"headers": ["Email", "Phone"], "problems": {"Phone\x1finvalid": 2}},
    ],
    ids=["counted", "counted-no-segment", "running", "running-not-started", "failed", "follow-up"],
)
def test_each_stage_is_stored_again_as_it_was_read(stored: dict[str, Any]) -> None:
    result = DryRunResult.from_stored(stored)
    assert result is not None
    assert result.to_stored() == stored
    assert DryRunResult.from_stored(result.to_stored()) == result


def test_a_counted_run_reads_as_typed_attributes() -> None:
    result = DryRunResult.from_stored(STORED_COUNTS)
    assert result is not None and result.stage == DryRunStage.COUNTED
    assert (result.would_create, result.would_update, result.error_rows) == (2, 1, 1)
    assert result.repeats == (Repeat(row=5, first_row=4),)
    assert result.segment == SegmentChange(name="Fair", would_join=3, already_in=1)
    assert (result.status_changes[0].from_status, result.status_changes[0].to_status) == (
        "new",
        "subscribed",
    )
    assert (result.domain_typos[0].rows, result.errors[0].column) == ((4,), "Email")


def test_each_stage_is_told_by_its_keys() -> None:
    stages = [
        DryRunResult.from_stored(stored)
        for stored in (
            {"processed_rows": 10, "run": "a1b2"},
            {"error": "Bad file."},
            {"headers": ["Email"], "problems": {}},
            {"processed_rows": 0},
        )
    ]
    assert [r.stage if r else None for r in stages] == [
        DryRunStage.RUNNING,
        DryRunStage.FAILED,
        DryRunStage.FROM_IMPORT,
        DryRunStage.COUNTED,
    ]
    assert DryRunResult.from_stored(None) is None  # no dry run


def test_a_counted_run_stored_before_some_counts_existed_takes_their_defaults() -> None:
    result = DryRunResult.from_stored({"processed_rows": 2, "would_create": 2, "errors": []})
    assert result == DryRunResult(DryRunStage.COUNTED, processed_rows=2, would_create=2)
    assert result is not None and (result.would_repeat, result.segment) == (0, None)
