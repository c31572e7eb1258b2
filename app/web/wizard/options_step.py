"""The wizard's options step: duplicates, tags, segment, checks and per-field rules; continuing
starts a dry run over the whole file."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask_login import login_required

from app.extensions import db
from app.imports import drafts
from app.imports.consent import NEW_CONTACT_STATUSES, NON_SUBSCRIBED
from app.imports.draft_mapping import mapped_fields, tags_mapped
from app.imports.regions import usual_region
from app.imports.wizard_state import options_of
from app.jobs.queue import QUEUE_ERRORS
from app.jobs.submit import queue_dry_run
from app.models import ImportJob, Segment, Tag
from app.tenancy import current_tenant_id, scoped
from app.web.partials import is_htmx
from app.web.wizard.forms import (
    RULE_LABELS,
    OptionsForm,
    countries,
    countries_for,
    read_rules,
    strategy_choices,
)
from app.web.wizard.views import _draft, bp, require_mapping, stepper


def _options_form(job: ImportJob, formdata: Any = None) -> OptionsForm:
    options = options_of(job)
    tags = [t.name for t in db.session.scalars(scoped(Tag).order_by(Tag.name))]
    segments = [s.name for s in db.session.scalars(scoped(Segment).order_by(Segment.name))]
    known_tags = {t.casefold(): t for t in tags}
    chosen = [known_tags[t.casefold()] for t in options.tags if t.casefold() in known_tags]
    typed = [t for t in options.tags if t.casefold() not in known_tags]
    segment_mode = "none"
    if options.segment_name:
        segment_mode = "existing" if options.segment_name in segments else "new"
    data = {
        "duplicate_strategy": options.duplicate_strategy,
        "tags": chosen,
        "new_tags": ", ".join(typed),
        "segment_mode": segment_mode,
        "existing_segment": options.segment_name if segment_mode == "existing" else "",
        "new_segment": options.segment_name if segment_mode == "new" else "",
        "validate_email": options.validate_email,
        "validate_phone": options.validate_phone,
        "default_region": options.default_region or "",
        "blank_clears": options.blank_clears,
        "tags_mode": options.tags_mode,
        "new_contact_status": options.new_contact_status,
        "consent_confirmed": options.consent_confirmed,
        "suppression_list": options.suppression_list,
    }
    form = (
        OptionsForm(formdata=formdata, data=data)
        if formdata is not None
        else OptionsForm(formdata=None, data=data)
    )
    form.tags.choices = {t: t for t in tags}
    form.existing_segment.choices = {"": "Choose a segment", **{s: s for s in segments}}
    form.default_region.choices = {
        "": "None: numbers must include the country code",
        **dict(countries_for(usual_region(current_tenant_id()))),
    }
    return form


@bp.route("/<job_id>/options", methods=["GET", "POST"])
@login_required
def options(job_id: str) -> Any:
    """Duplicates, tags, segment, checks, and per-field rules for updates."""
    job = _draft(job_id)
    require_mapping(job)
    fields = mapped_fields(job)
    status = 200
    if request.method == "POST":
        form = _options_form(job, request.form)
        valid = form.validate_on_submit()
        advance = request.form.get("action") == "continue"
        if valid or not advance:
            _apply_options(job, form, [name for name, _, _ in fields], valid and advance)
        if is_htmx():
            return Response(status=204)
        if advance and valid:
            try:
                queue_dry_run(job)
            except QUEUE_ERRORS:
                db.session.rollback()
                flash(
                    "The check of the whole file could not be started: the job queue is not "
                    "reachable. You can still start the import.",
                    "error",
                )
            return redirect(url_for("wizard.confirm", job_id=job.id), 303)
        if not advance:
            back = request.form.get("action") == "back"
            return redirect(
                url_for("wizard.mapping" if back else "wizard.options", job_id=job.id), 303
            )
        status = 422
    else:
        form = _options_form(job)
    options = options_of(job)
    return render_template(
        "wizard/options.html",
        job=job,
        form=form,
        steps=stepper(job, "options"),
        fields=fields,
        rules=options.field_rules,
        rule_labels=RULE_LABELS,
        tags_mapped=tags_mapped(job),
        strategies=[(v, *text.split(": ", 1)) for v, text in strategy_choices()],
    ), status


def _apply_options(job: ImportJob, form: OptionsForm, rule_names: list[str], advance: bool) -> None:
    options = options_of(job)
    strategy = form.duplicate_strategy.data
    if strategy in dict(strategy_choices()):
        options.duplicate_strategy = strategy
    options.tags = form.chosen_tags()
    segment = form.segment_name()
    if form.segment_mode.data == "existing" and segment not in dict(form.existing_segment.choices):
        segment = None
    options.segment_name = segment
    options.validate_email = bool(form.validate_email.data)
    options.validate_phone = bool(form.validate_phone.data)
    region = form.default_region.data or None
    options.default_region = region if region in dict(countries()) else None
    options.blank_clears = bool(form.blank_clears.data)
    options.tags_mode = form.tags_mode.data if form.tags_mode.data in ("add", "replace") else "add"
    status = form.new_contact_status.data
    options.new_contact_status = status if status in NEW_CONTACT_STATUSES else NON_SUBSCRIBED
    options.consent_confirmed = bool(form.consent_confirmed.data)
    options.suppression_list = bool(form.suppression_list.data)
    options.field_rules = read_rules(request.form, rule_names)
    drafts.save_options(job, options, advance=advance)
