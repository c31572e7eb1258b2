"""A draft's mapping step: the field pickers' values read into specs, with every problem named;
the suggestions a new file starts with; the preview and the fields a rule can apply to."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.imports.mapping import (
    STANDARD_FIELDS,
    FieldTarget,
    MappingError,
    check_mapping,
    parse_target,
    rule_name,
    target_to_spec,
)
from app.imports.options import ImportOptions
from app.imports.parsing import SourceRow
from app.imports.preview import PreviewColumn, PreviewRow, preview_rows
from app.imports.suggestions import suggestions_for
from app.imports.validation import ValidationOptions
from app.imports.wizard_state import WizardState, options_of
from app.models import CUSTOM_FIELD_TYPES, CustomField, ImportJob

NEW_FIELD = "__new__"
"""The field picker's value for "a new custom field" (named and typed beside it)."""
_KEY_CHARS = re.compile(r"[^a-z0-9]+")


@dataclass
class MappingDraft:
    """The mapping step's choices as submitted, the valid specs, and the problems left."""

    choices: dict[str, str]
    new_fields: dict[str, dict[str, str]]
    specs: dict[str, str]
    row_errors: dict[str, str]
    problems: list[str]

    @property
    def is_valid(self) -> bool:
        """True when the import can use this mapping."""
        return not self.row_errors and not self.problems


def custom_fields(tenant_id: uuid.UUID) -> dict[str, CustomField]:
    """The tenant's custom fields by key."""
    query = (
        select(CustomField).where(CustomField.tenant_id == tenant_id).order_by(CustomField.label)
    )
    return {f.key: f for f in db.session.scalars(query)}


def choice_of(target: FieldTarget) -> str:
    """The value of the field picker for a target."""
    if target.kind == "custom":
        return f"custom:{target.key}"
    if target.kind == "standard":
        return str(target.key)
    return target.kind


def key_for_name(name: str) -> str:
    """A custom field key from the name a person typed: "Signed up on" -> "signed_up_on"."""
    key = _KEY_CHARS.sub("_", name.strip().lower()).strip("_")
    if key and not key[0].isalpha():
        key = f"field_{key}"
    return key[:64].rstrip("_")


def read_mapping(
    headers: list[str],
    choices: dict[str, str],
    new_fields: dict[str, dict[str, str]],
    custom: dict[str, CustomField],
) -> MappingDraft:
    """Turn the field pickers' values into specs, with a sentence for every problem."""
    clean_choices: dict[str, str] = {}
    clean_new: dict[str, dict[str, str]] = {}
    specs: dict[str, str] = {}
    row_errors: dict[str, str] = {}
    allowed = {"ignore", "tags", *STANDARD_FIELDS, *(f"custom:{key}" for key in custom)}
    for header in headers:
        choice = choices.get(header) or "ignore"
        clean_choices[header] = choice
        specs[header] = "ignore"
        if choice == NEW_FIELD:
            new = new_fields.get(header) or {}
            name = (new.get("name") or "").strip()[:200]
            field_type = new.get("type") or "text"
            clean_new[header] = {"name": name, "type": field_type}
            key = key_for_name(name)
            if not name:
                row_errors[header] = "Give the new field a name."
            elif field_type not in CUSTOM_FIELD_TYPES:
                row_errors[header] = "Choose what kind of values the new field holds."
            elif not key:
                row_errors[header] = "Use letters or digits in the name of the new field."
            elif key in STANDARD_FIELDS or key in ("tags", "ignore"):
                label = STANDARD_FIELDS.get(key, "Tags")
                row_errors[header] = f"{label} is a standard field: pick it in the list instead."
            elif key in custom:
                row_errors[header] = (
                    f"A custom field named '{custom[key].label}' already exists: "
                    "pick it in the list instead."
                )
            else:
                specs[header] = f"{key}:{field_type}"
        elif choice not in allowed:
            row_errors[header] = "Choose a field from the list."
            clean_choices[header] = "ignore"
        elif choice != "ignore":
            specs[header] = target_to_spec(parse_target(choice))
    problems: list[str] = []
    try:
        check_mapping({h: parse_target(s) for h, s in specs.items()}, headers)
    except MappingError as exc:
        problems = list(exc.problems)
    return MappingDraft(clean_choices, clean_new, specs, row_errors, problems)


def suggest(
    tenant_id: uuid.UUID, options: ImportOptions, state: WizardState, sample: list[SourceRow]
) -> None:
    """Fill the mapping with suggestions for the headers and keep why each was suggested."""
    headers = state.headers
    custom = custom_fields(tenant_id)
    choices: dict[str, str] = {}
    new_fields: dict[str, dict[str, str]] = {}
    why: dict[str, dict[str, Any]] = {}
    for suggestion in suggestions_for(tenant_id, headers, sample):
        target = suggestion.target
        header = suggestion.header
        if target.kind == "custom" and target.custom_type and target.key not in custom:
            choices[header] = NEW_FIELD
            new_fields[header] = {"name": str(target.key), "type": target.custom_type}
        else:
            choices[header] = choice_of(target)
        why[header] = {
            "reason": suggestion.reason,
            "detail": suggestion.detail,
            "score": suggestion.score,
            "choice": choices[header],
        }
    state.suggestions = why
    draft = read_mapping(headers, choices, new_fields, custom)
    state.choices, state.new_fields = draft.choices, draft.new_fields
    options.field_mapping = draft.specs


def mapping_of(job: ImportJob) -> MappingDraft:
    """The mapping as last saved, checked again against today's custom fields."""
    state = WizardState.of(job)
    return read_mapping(
        state.headers, state.choices, state.new_fields, custom_fields(job.tenant_id)
    )


def preview_of(job: ImportJob) -> tuple[list[PreviewColumn], list[PreviewRow]] | None:
    """The first rows as the import would store them, or None while the mapping is unusable."""
    options, state = options_of(job), WizardState.of(job)
    try:
        targets = options.targets()
        custom_types = {key: f.field_type for key, f in custom_fields(job.tenant_id).items()}
        return preview_rows(
            state.headers,
            state.sample,
            targets,
            custom_types,
            ValidationOptions(
                options.validate_email, options.validate_phone, options.default_region
            ),
            job.row_label,
        )
    except (MappingError, ValueError):
        return None


def mapped_fields(job: ImportJob) -> list[tuple[str, str, str]]:
    """(rule name, field label, source header) of every mapped field a rule can apply to."""
    options, state = options_of(job), WizardState.of(job)
    custom = custom_fields(job.tenant_id)
    rows = []
    # JSONB keeps keys in its own order: follow the file's column order instead.
    headers = [h for h in state.headers if h in options.field_mapping]
    headers += [h for h in options.field_mapping if h not in headers]
    for header in headers:
        target = parse_target(options.field_mapping[header])
        name = rule_name(target)
        if name is None:
            continue
        if target.kind == "custom":
            field = custom.get(str(target.key))
            label = field.label if field else state.new_fields.get(header, {}).get("name", header)
        else:
            label = STANDARD_FIELDS[str(target.key)]
        rows.append((name, label, header))
    return rows


def tags_mapped(job: ImportJob) -> bool:
    """True when a column of the file holds tags."""
    return any(spec == "tags" for spec in options_of(job).field_mapping.values())
