"""A rollback's `RollbackTally` as the job stores it: snake_case, read back as it was."""

from __future__ import annotations

from typing import Any

import pytest

from app.imports.rollback_tally import (
    KeptContact,
    Part,
    RollbackTally,
    SlicePosition,
    rollback_fields,
)

CONTACT_ID = "01938a7e-5b4c-7d2e-8f10-2a3b4c5d6e7f"
KEPT = {"contact_id": CONTACT_ID, "email": "ann@example.com", "reason": "changed since, kept"}
COUNTS = {"deleted": 19, "restored": 21, "unlinked": 4, "kept": 2, "gone": 1}
STORED_RUNNING: dict[str, Any] = {
    **COUNTS,
    "kept_contacts": [KEPT],
    "positions": {
        "0/2": {"journal_before": [40, "e1"], "created_after": None},
        "1/2": {"journal_before": None, "created_after": CONTACT_ID},
    },
}
"""A rollback on two slices, stopped (or still running) half way."""
STORED_COMPLETED: dict[str, Any] = {**COUNTS, "kept_contacts": [KEPT]}
STORED_FAILED: dict[str, Any] = {**STORED_RUNNING, "error": "The database went away."}
STORED_FAILED_AT_ONCE: dict[str, Any] = {
    **dict.fromkeys(COUNTS, 0),
    "kept_contacts": [],
    "error": "The worker stopped.",
}


@pytest.mark.parametrize(
    "stored",
    [STORED_RUNNING, STORED_COMPLETED, STORED_FAILED, STORED_FAILED_AT_ONCE],
    ids=["running", "completed", "failed", "failed-at-once"],
)
def test_each_shape_is_stored_again_as_it_was_read(stored: dict[str, Any]) -> None:
    tally = RollbackTally.from_stored(stored)
    assert tally is not None and tally.to_stored() == stored


def test_a_stored_rollback_reads_as_typed_attributes() -> None:
    tally = RollbackTally.from_stored(STORED_FAILED)
    assert tally is not None
    assert (tally.deleted, tally.restored, tally.kept, tally.error) == (
        19,
        21,
        2,
        "The database went away.",
    )
    assert tally.kept_contacts == [
        KeptContact(CONTACT_ID, "ann@example.com", "changed since, kept")
    ]
    assert tally.positions["0/2"] == SlicePosition([40, "e1"], None)
    assert tally.parts(default=3) == [Part(0, 2), Part(1, 2)]  # resumed on its own slices
    resumed = tally.resume(Part(1, 2))
    assert (resumed.journal_before, resumed.created_after) == (None, CONTACT_ID)
    assert RollbackTally.from_stored(None) is None  # no rollback yet


def test_the_cli_and_the_task_show_the_camel_case_fields_they_always_had() -> None:
    tally = RollbackTally.from_stored(STORED_FAILED)
    assert rollback_fields(tally) == {
        "deleted": 19,
        "restored": 21,
        "unlinked": 4,
        "kept": 2,
        "gone": 1,
        "keptContacts": [
            {"contactId": CONTACT_ID, "email": "ann@example.com", "reason": "changed since, kept"}
        ],
        "positions": {
            "0/2": {"journalBefore": [40, "e1"], "createdAfter": None},
            "1/2": {"journalBefore": None, "createdAfter": CONTACT_ID},
        },
        "error": "The database went away.",
    }
    assert "positions" not in rollback_fields(RollbackTally.from_stored(STORED_COMPLETED))
    assert rollback_fields(None) == {}
