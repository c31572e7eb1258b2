"""What a draft import remembers between the wizard's requests, as a typed `WizardState`.

It is stored as the "wizard" entry of the job's `import_options`, beside the `ImportOptions` the
engine reads: the headers, the first rows of the file, the suggestions and why, the choices not
yet valid, the step reached, what the dry run was made for. Reload, the back button and a second
tab all read this one row. Drafts saved before the state was typed load as they are: a key
missing from the stored dict takes its default, a key this version does not know is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.imports.options import ImportOptions
from app.imports.parsing import SourceRow
from app.models import ImportJob

STEPS = ("file", "mapping", "options", "confirm")
OPTIONAL_KEYS = ("detected", "json_format", "row_label", "dry_run_for", "origin")
"""Stored only when set, as the untyped state stored them."""


@dataclass
class WizardState:
    """A draft's wizard state; read it with `of`, store it with `drafts.save` or `store_on`."""

    headers: list[str] = field(default_factory=list)
    sample: list[SourceRow] = field(default_factory=list)
    row_estimate: int = 0
    sheets: list[str] = field(default_factory=list)
    choices: dict[str, str] = field(default_factory=dict)
    new_fields: dict[str, dict[str, str]] = field(default_factory=dict)
    suggestions: dict[str, dict[str, Any]] = field(default_factory=dict)
    reached: str = "file"
    detected: dict[str, str | None] | None = None  # the file settings first found
    json_format: str | None = None
    row_label: str | None = None
    corrections: int = 0  # how many times rows were corrected in the review
    dry_run_for: str | None = None  # what the last dry run was made for (`drafts.checked_for`)
    origin: str | None = None  # "api" for an API dry run, which is no marketer's draft

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WizardState:
        """Build from the stored dict (defaults for what it lacks)."""
        return cls(
            headers=[str(h) for h in data.get("headers") or []],
            sample=[
                SourceRow(int(line), [str(v) for v in values], error)
                for line, values, error in data.get("sample") or []
            ],
            row_estimate=int(data.get("row_estimate") or 0),
            sheets=[str(s) for s in data.get("sheets") or []],
            choices=dict(data.get("choices") or {}),
            new_fields={h: dict(v) for h, v in (data.get("new_fields") or {}).items()},
            suggestions={h: dict(v) for h, v in (data.get("suggestions") or {}).items()},
            reached=str(data.get("reached") or "file"),
            detected=dict(data["detected"]) if data.get("detected") else None,
            json_format=data.get("json_format"),
            row_label=data.get("row_label"),
            corrections=int(data.get("corrections") or 0),
            dry_run_for=data.get("dry_run_for"),
            origin=data.get("origin"),
        )

    @classmethod
    def of(cls, job: ImportJob) -> WizardState:
        """The state stored on the job (a copy: change it, then store it)."""
        return cls.from_dict((job.import_options or {}).get("wizard") or {})

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict stored on the job, keyed as the wizard always stored it."""
        data: dict[str, Any] = {
            "headers": list(self.headers),
            "sample": [[row.line, list(row.values), row.error] for row in self.sample],
            "row_estimate": self.row_estimate,
            "sheets": list(self.sheets),
            "choices": dict(self.choices),
            "new_fields": {h: dict(v) for h, v in self.new_fields.items()},
            "suggestions": {h: dict(v) for h, v in self.suggestions.items()},
            "reached": self.reached,
        }
        if self.corrections:
            data["corrections"] = self.corrections
        for key in OPTIONAL_KEYS:
            value = getattr(self, key)
            if value is not None:
                data[key] = dict(value) if isinstance(value, dict) else value
        return data

    def store_on(self, job: ImportJob) -> None:
        """Write the state into the job's options, leaving the engine's options as they are."""
        job.import_options = {**(job.import_options or {}), "wizard": self.to_dict()}

    def reach(self, step: str) -> None:
        """Remember the furthest step the user got to, for the stepper and for resuming."""
        if STEPS.index(step) > STEPS.index(self.reached if self.reached in STEPS else "file"):
            self.reached = step


def options_of(job: ImportJob) -> ImportOptions:
    """The engine's options stored on the job."""
    return ImportOptions.from_dict(job.import_options or {})
