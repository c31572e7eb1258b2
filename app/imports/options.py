"""What an import was asked to do: `ImportOptions`, stored as JSON on the job row."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from phonenumbers import SUPPORTED_REGIONS

from app.imports.consent import NEW_CONTACT_STATUSES, NON_SUBSCRIBED, SUBSCRIBED
from app.imports.mapping import FieldTarget, MappingError, check_mapping, parse_target
from app.storage.base import clean_file_name

DUPLICATE_STRATEGIES = {
    "skip": "Skip: contacts that already exist are left exactly as they are.",
    "update": "Update: contacts that already exist get the file's values.",
    "create": "Create only: new emails become contacts; existing ones only get the tags and segment.",
}
FIELD_RULES = ("overwrite", "fill_empty", "never")
TAG_MODES = ("add", "replace")


class OptionsError(ValueError):
    """Options that cannot work; `problems` lists each one as a sentence."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


@dataclass
class ImportOptions:
    """Everything the engine needs to import one file; the web wizard, API and CLI fill it in."""

    file_name: str
    file_key: str
    file_type: str | None = None
    field_mapping: dict[str, str] = field(default_factory=dict)  # source header -> target spec
    duplicate_strategy: str = "update"
    tags: list[str] = field(default_factory=list)
    segment_name: str | None = None
    validate_email: bool = True
    validate_phone: bool = False
    default_region: str | None = None
    blank_clears: bool = False
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    field_rules: dict[str, str] = field(default_factory=dict)  # "first_name" / "custom:zip" -> rule
    tags_mode: str = "add"
    new_contact_status: str = NON_SUBSCRIBED  # for new contacts the file gives no status
    consent_confirmed: bool = False  # the marketer confirmed these contacts gave permission
    suppression_list: bool = False  # every contact in the file becomes unsubscribed

    def __post_init__(self) -> None:
        """Whatever entry point filled it in, the file name is one that can be stored and shown."""
        self.file_name = clean_file_name(self.file_name)

    def targets(self) -> dict[str, FieldTarget]:
        """The mapping with parsed targets (columns set to ignore left out)."""
        parsed = {header: parse_target(spec) for header, spec in self.field_mapping.items()}
        return {h: t for h, t in parsed.items() if t.kind != "ignore"}

    def fingerprint(self) -> str:
        """A short hash of everything the import would do, to tell whether a dry run is current."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def check(self, headers: list[str] | None = None) -> None:
        """Raise OptionsError listing every problem (mapping, strategy, rules, region)."""
        problems: list[str] = []
        if self.duplicate_strategy not in DUPLICATE_STRATEGIES:
            problems.append(
                f"Unknown duplicate strategy {self.duplicate_strategy!r}: use skip, update or create."
            )
        if self.new_contact_status not in NEW_CONTACT_STATUSES:
            problems.append(
                f"Unknown status {self.new_contact_status!r} for new contacts: use "
                "non_subscribed or subscribed."
            )
        elif self.new_contact_status == SUBSCRIBED and not self.consent_confirmed:
            problems.append(
                "New contacts can only be subscribed when you confirm they gave permission to "
                "receive email: confirm it, or import them as non-subscribed."
            )
        if self.tags_mode not in TAG_MODES:
            problems.append(f"Unknown tags mode {self.tags_mode!r}: use add or replace.")
        for name, rule in self.field_rules.items():
            if rule not in FIELD_RULES:
                problems.append(
                    f"Unknown rule {rule!r} for {name}: use overwrite, fill_empty or never."
                )
        if self.default_region and self.default_region.upper() not in SUPPORTED_REGIONS:
            problems.append(
                f"Default phone country {self.default_region!r} is not a two-letter country code such as GB or US."
            )
        try:
            targets = self.targets()
            check_mapping(targets, headers if headers is not None else list(self.field_mapping))
        except MappingError as exc:
            problems.extend(exc.problems)
        if problems:
            raise OptionsError(problems)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportOptions:
        """Build from a stored dict, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
