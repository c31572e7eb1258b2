"""The API's dryRun keeps the camelCase fields it had when the service stored them itself."""

from __future__ import annotations

from app.imports.dry_run_result import DryRunResult, dry_run_fields
from tests.imports.test_dry_run_result import STORED_COUNTS


def test_a_counted_dry_run_has_the_fields_and_names_it_always_had() -> None:
    result = DryRunResult.from_stored(STORED_COUNTS)
    assert result is not None
    assert dry_run_fields(result) == {
        "processedRows": 6,
        "wouldCreate": 2,
        "wouldUpdate": 1,
        "wouldLeaveUnchanged": 1,
        "wouldSkip": 0,
        "wouldRepeat": 1,
        "repeats": [{"row": 5, "firstRow": 4}],
        "errorRows": 1,
        "errors": [
            {"row": 6, "column": "Email", "value": "bad", "message": "Row 6: not an email."}
        ],
        "fieldChanges": {"company": 1, "custom:favoriteColor": 1},
        "segment": {"name": "Fair", "wouldJoin": 3, "alreadyIn": 1},
        "unsubscribedMatches": 1,
        "statusChanges": [{"from": "new", "to": "subscribed", "count": 2}],
        "domainTypos": [
            {"domain": "gamil.com", "suggestion": "gmail.com", "count": 1, "rows": [4]}
        ],
        "problems": {"Email\x1finvalid": 1},
        "headers": ["Email", "Company"],
        "correctedRows": 1,
        "skippedRows": 0,
    }


def test_a_running_failed_or_follow_up_dry_run_has_only_its_own_fields() -> None:
    assert dry_run_fields(DryRunResult.running("a1b2", 10)) == {"processedRows": 10, "run": "a1b2"}
    assert dry_run_fields(DryRunResult.failed("Bad file.")) == {"error": "Bad file."}
    follow_up = DryRunResult.from_import(["Email"], {"Email\x1fmissing": 1})
    assert dry_run_fields(follow_up) == {
        "headers": ["Email"],
        "problems": {"Email\x1fmissing": 1},
    }
    assert dry_run_fields(DryRunResult(segment=None))["segment"] is None
