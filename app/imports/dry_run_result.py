"""What a dry run found, as the typed `DryRunResult` stored on the job's `dry_run` column.

One column holds one of four stages: a run's progress (the rows read so far and the run's token,
which a newer run replaces to stop it), why it failed, the whole file's counts once it ended, or,
on a follow-up draft, only the columns and problems of the rows its first import refused. Each
stage stores its own keys, in snake_case (migration 0021 renamed the camelCase keys earlier
versions stored), and the stage is read back from which keys are there. The wizard renders the
attributes; the API and the CLI show them with camelCase names (`dry_run_fields`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Self

from app.imports.camel_case import camel_keys
from app.models import ImportJob


class DryRunStage(StrEnum):
    """Which of its four shapes a stored dry run has."""

    RUNNING = "running"  # processed_rows and run
    FAILED = "failed"  # error
    COUNTED = "counted"  # the whole file read: every count
    FROM_IMPORT = "from_import"  # a follow-up draft: headers and problems of the refused rows


@dataclass(frozen=True)
class _Record:
    """A part of a counted dry run, stored as a dict of its fields by name (a field's `stored`
    metadata names its key instead), its tuples as lists."""

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> Self:
        """Read what `to_stored` stored."""
        values = {f.name: data.get(f.metadata.get("stored", f.name)) for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def to_stored(self) -> dict[str, Any]:
        """The JSON-ready dict stored in the dry run."""
        values = {f.metadata.get("stored", f.name): getattr(self, f.name) for f in fields(self)}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


@dataclass(frozen=True)
class Repeat(_Record):
    """A row whose email an earlier row of the file had: the later row wins."""

    row: int
    first_row: int


@dataclass(frozen=True)
class StatusChange(_Record):
    """How many contacts would go from one subscription status to another (`new`: created)."""

    from_status: str = field(metadata={"stored": "from"})
    to_status: str = field(metadata={"stored": "to"})
    count: int


@dataclass(frozen=True)
class SegmentChange(_Record):
    """How many contacts would join the import's segment, and how many are in it already."""

    name: str
    would_join: int
    already_in: int


@dataclass(frozen=True)
class DomainTypo(_Record):
    """An email domain that looks misspelt, what it may have meant, and its first rows."""

    domain: str
    suggestion: str
    count: int
    rows: tuple[int, ...]


@dataclass(frozen=True)
class ShownError(_Record):
    """One of the first rows the import would refuse, as the pages and the API list them."""

    row: int | None
    column: str | None
    value: str | None
    message: str


@dataclass(frozen=True)
class DryRunResult:
    """A dry run's progress, failure or counts (see `DryRunStage` for which fields each has)."""

    stage: DryRunStage = DryRunStage.COUNTED
    processed_rows: int = 0
    run: str | None = None
    error: str | None = None
    would_create: int = 0
    would_update: int = 0
    would_leave_unchanged: int = 0
    would_skip: int = 0
    would_repeat: int = 0
    repeats: tuple[Repeat, ...] = ()
    error_rows: int = 0
    errors: tuple[ShownError, ...] = ()
    field_changes: Mapping[str, int] = field(default_factory=dict)
    segment: SegmentChange | None = None
    unsubscribed_matches: int = 0
    status_changes: tuple[StatusChange, ...] = ()
    domain_typos: tuple[DomainTypo, ...] = ()
    # the review table's filters: every kind of problem found, by column, with its rows
    problems: Mapping[str, int] = field(default_factory=dict)
    headers: tuple[str, ...] = ()
    corrected_rows: int = 0
    skipped_rows: int = 0

    @classmethod
    def running(cls, run: str | None, processed_rows: int = 0) -> DryRunResult:
        """A run's progress: its token and the rows it has read."""
        return cls(DryRunStage.RUNNING, processed_rows=processed_rows, run=run)

    @classmethod
    def failed(cls, message: str) -> DryRunResult:
        """A run that could not read the file, and why."""
        return cls(DryRunStage.FAILED, error=message)

    @classmethod
    def from_import(cls, headers: list[str], problems: Mapping[str, int]) -> DryRunResult:
        """A follow-up draft's: the columns and problems of the rows its first import refused."""
        return cls(DryRunStage.FROM_IMPORT, headers=tuple(headers), problems=dict(problems))

    def rows_by_outcome(self) -> dict[str, int]:
        """The file's rows by what the import would do with them, named as an import's counts."""
        return {
            "created": self.would_create,
            "updated": self.would_update,
            "unchanged": self.would_leave_unchanged,
            "repeated": self.would_repeat,
            "skipped": self.would_skip,
            "refused": self.error_rows,
        }

    def to_stored(self) -> dict[str, Any]:
        """The JSON-ready dict stored on the job: this stage's keys only."""
        if self.stage == DryRunStage.RUNNING:
            return {"processed_rows": self.processed_rows, "run": self.run}
        if self.stage == DryRunStage.FAILED:
            return {"error": self.error}
        if self.stage == DryRunStage.FROM_IMPORT:
            return {"headers": list(self.headers), "problems": dict(self.problems)}
        return {
            "processed_rows": self.processed_rows,
            "would_create": self.would_create,
            "would_update": self.would_update,
            "would_leave_unchanged": self.would_leave_unchanged,
            "would_skip": self.would_skip,
            "would_repeat": self.would_repeat,
            "repeats": [r.to_stored() for r in self.repeats],
            "error_rows": self.error_rows,
            "errors": [e.to_stored() for e in self.errors],
            "field_changes": dict(self.field_changes),
            "segment": self.segment.to_stored() if self.segment else None,
            "unsubscribed_matches": self.unsubscribed_matches,
            "status_changes": [c.to_stored() for c in self.status_changes],
            "domain_typos": [t.to_stored() for t in self.domain_typos],
            "problems": dict(self.problems),
            "headers": list(self.headers),
            "corrected_rows": self.corrected_rows,
            "skipped_rows": self.skipped_rows,
        }

    @classmethod
    def of(cls, job: ImportJob) -> DryRunResult | None:
        """The dry run stored on the job; None before one is started."""
        return cls.from_stored(job.dry_run)

    @classmethod
    def from_stored(cls, data: Mapping[str, Any] | None) -> DryRunResult | None:
        """Read what `to_stored` stored (None: no dry run); a key it lacks takes its default."""
        if data is None:
            return None
        if "error" in data:
            return cls.failed(str(data["error"]))
        if "run" in data:
            return cls.running(data["run"], int(data.get("processed_rows") or 0))
        if "processed_rows" not in data:
            return cls.from_import(list(data.get("headers") or []), data.get("problems") or {})
        segment = data.get("segment")
        return cls(
            DryRunStage.COUNTED,
            processed_rows=int(data.get("processed_rows") or 0),
            would_create=int(data.get("would_create") or 0),
            would_update=int(data.get("would_update") or 0),
            would_leave_unchanged=int(data.get("would_leave_unchanged") or 0),
            would_skip=int(data.get("would_skip") or 0),
            would_repeat=int(data.get("would_repeat") or 0),
            repeats=tuple(Repeat.from_stored(r) for r in data.get("repeats") or []),
            error_rows=int(data.get("error_rows") or 0),
            errors=tuple(ShownError.from_stored(e) for e in data.get("errors") or []),
            field_changes=dict(data.get("field_changes") or {}),
            segment=SegmentChange.from_stored(segment) if segment else None,
            unsubscribed_matches=int(data.get("unsubscribed_matches") or 0),
            status_changes=tuple(
                StatusChange.from_stored(c) for c in data.get("status_changes") or []
            ),
            domain_typos=tuple(DomainTypo.from_stored(t) for t in data.get("domain_typos") or []),
            problems=dict(data.get("problems") or {}),
            headers=tuple(data.get("headers") or []),
            corrected_rows=int(data.get("corrected_rows") or 0),
            skipped_rows=int(data.get("skipped_rows") or 0),
        )


def dry_run_fields(result: DryRunResult) -> dict[str, Any]:
    """A dry run as the API shows it (the `DryRun` model, without its status; the CLI prints the
    same): its stage's stored fields named as the response models name theirs, in camelCase, and
    so are the fields of each repeat and of the segment. Other keys inside are data (a field's
    name in `fieldChanges`, a problem in `problems`) and stay as they are."""
    shown = camel_keys(result.to_stored())
    if "repeats" in shown:
        shown["repeats"] = [camel_keys(repeat) for repeat in shown["repeats"]]
    if shown.get("segment"):
        shown["segment"] = camel_keys(shown["segment"])
    return shown
