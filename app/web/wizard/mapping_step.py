"""The wizard's mapping step: a field picker per column, why each was suggested, a live
preview of the first rows as they would be stored."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from flask_login import login_required

from app.imports import drafts
from app.imports.draft_mapping import (
    NEW_FIELD,
    MappingDraft,
    custom_fields,
    key_for_name,
    mapping_of,
    preview_of,
    read_mapping,
)
from app.imports.mapping import STANDARD_FIELDS
from app.imports.wizard_state import WizardState, options_of
from app.models import ImportJob
from app.models.contact import CUSTOM_FIELD_TYPES
from app.web.partials import is_htmx
from app.web.wizard.views import _draft, bp, stepper

CUSTOM_TYPE_LABELS = {"text": "Text", "number": "Number", "date": "Date", "boolean": "Yes / no"}


def _posted_mapping(headers: list[str]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    choices: dict[str, str] = {}
    new_fields: dict[str, dict[str, str]] = {}
    for index, header in enumerate(headers):
        choices[header] = request.form.get(f"map-{index}", "ignore")
        new_fields[header] = {
            "name": request.form.get(f"new-name-{index}", "").strip(),
            "type": request.form.get(f"new-type-{index}", "text"),
        }
    new_fields = {h: v for h, v in new_fields.items() if choices[h] == NEW_FIELD}
    return choices, new_fields


@bp.route("/<job_id>/mapping", methods=["GET", "POST"])
@login_required
def mapping(job_id: str) -> Any:
    """One line per column with a field picker and why it was suggested; a live preview below."""
    job = _draft(job_id)
    headers = WizardState.of(job).headers
    status = 200
    if request.method == "POST":
        choices, new_fields = _posted_mapping(headers)
        draft = read_mapping(headers, choices, new_fields, custom_fields(job.tenant_id))
        advance = request.form.get("action") == "continue"
        drafts.save_mapping(job, draft, advance=advance and draft.is_valid)
        if is_htmx():
            return render_template(
                "wizard/_mapping_live.html", oob=True, **_mapping_context(job, draft)
            )
        if advance and draft.is_valid:
            return redirect(url_for("wizard.options", job_id=job.id), 303)
        if not advance:
            return redirect(url_for("wizard.mapping", job_id=job.id), 303)
        status = 422
    draft = mapping_of(job)
    return render_template("wizard/mapping.html", **_mapping_context(job, draft)), status


def _mapping_context(job: ImportJob, draft: MappingDraft) -> dict[str, Any]:
    state = WizardState.of(job)
    headers = state.headers
    rows = state.sample
    samples: dict[str, list[str]] = {}
    for index, header in enumerate(headers):
        values = [r.values[index].strip() for r in rows if index < len(r.values)]
        samples[header] = [v for v in values if v][:4]
    custom = custom_fields(job.tenant_id)
    preview = preview_of(job)
    return {
        "job": job,
        "steps": stepper(job, "mapping"),
        "headers": headers,
        "samples": samples,
        "draft": draft,
        "suggestions": state.suggestions,
        "standard_fields": STANDARD_FIELDS,
        "custom_fields": list(custom.values()),
        "custom_types": CUSTOM_FIELD_TYPES,
        "custom_type_labels": CUSTOM_TYPE_LABELS,
        "new_field": NEW_FIELD,
        "preview": preview,
        "field_label": lambda target: target_label(target, custom, draft.new_fields),
        "options": options_of(job),
    }


def target_label(target: Any, custom: dict[str, Any], new_fields: dict[str, Any]) -> str:
    if target.kind == "standard":
        return STANDARD_FIELDS[target.key]
    if target.kind == "tags":
        return "Tags"
    if target.kind == "custom":
        field = custom.get(target.key)
        if field is not None:
            return field.label
        name = next(
            (
                v["name"]
                for v in new_fields.values()
                if v.get("name") and key_for_name(v["name"]) == target.key
            ),
            target.key,
        )
        return f"{name} (new)"
    return "Don't import"
