"""A draft's `WizardState`: stored as the dict the wizard always stored, old drafts load."""

from __future__ import annotations

from app.imports.parsing import SourceRow
from app.imports.wizard_state import WizardState

OLD_DRAFT = {
    "headers": ["Email", "Name"],
    "sample": [[2, ["ann@example.com", "Ann"], None], [3, ["bad", ""], "unreadable"]],
    "row_estimate": 2,
    "sheets": [],
    "choices": {"Email": "email", "Name": "first_name"},
    "new_fields": {},
    "suggestions": {"Email": {"reason": "exact", "detail": "", "score": 1.0, "choice": "email"}},
    "reached": "options",
    "detected": {"file_type": "csv", "encoding": "utf-8", "delimiter": ",", "sheet": None},
    "json_format": None,
    "row_label": "Row",
    "dry_run_for": "0123456789abcdef/2",
    "corrections": 2,
}


def test_a_stored_draft_loads_and_is_stored_again_as_it_was() -> None:
    state = WizardState.from_dict(OLD_DRAFT)
    assert state.sample[1] == SourceRow(3, ["bad", ""], "unreadable")
    assert (state.reached, state.corrections, state.origin) == ("options", 2, None)
    assert state.to_dict() == {k: v for k, v in OLD_DRAFT.items() if v is not None}


def test_a_draft_with_only_some_keys_takes_the_defaults_for_the_rest() -> None:
    state = WizardState.from_dict({"origin": "api"})
    assert (state.headers, state.sample, state.reached, state.origin) == ([], [], "file", "api")
    state.reach("confirm")
    state.reach("mapping")  # going back leaves the furthest step reached
    assert state.to_dict()["reached"] == "confirm"
