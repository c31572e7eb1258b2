"""The wizard's last step: a summary, the dry run's progress and result, its refused rows as
CSV; start the import or discard the draft."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required

from app.extensions import db
from app.imports import drafts
from app.imports.draft_mapping import custom_fields, mapped_fields
from app.imports.dry_run_result import DryRunResult
from app.imports.error_report import refused_rows_csv
from app.imports.mapping import MappingError, parse_target
from app.imports.options import OptionsError
from app.imports.parsing import FileFormatError
from app.imports.wizard_state import WizardState, options_of
from app.jobs.queue import QUEUE_ERRORS
from app.jobs.submit import queue_draft_import, queue_dry_run
from app.models import ImportJob, ImportStatus, RunStatus
from app.storage import StorageError
from app.storage.base import content_disposition
from app.tenancy import get_scoped_or_404
from app.web.charts import share_bars, stacked_bar
from app.web.partials import is_htmx
from app.web.wizard.forms import RULE_LABELS, countries, label_of, strategy_choices
from app.web.wizard.mapping_step import target_label
from app.web.wizard.views import StepNotReady, _draft, bp, locked_draft, require_mapping, stepper

WOULD_HAPPEN = (
    ("created", "would be created"),
    ("updated", "would be updated"),
    ("unchanged", "already up to date"),
    ("repeated", "repeat an earlier row"),
    ("skipped", "would be skipped"),
    ("refused", "refused for errors"),
)
"""The segments of the dry run's outcome bar, in the order of an import's."""


@bp.route("/<job_id>/confirm")
@login_required
def confirm(job_id: str) -> Any:
    """A summary of file, mapping and options, and what a dry run over the file found."""
    job = _draft(job_id)
    require_mapping(job)
    problems = drafts.options_problems(job)
    if problems:
        raise StepNotReady(job.id, "options", " ".join(problems))
    return render_template("wizard/confirm.html", **_confirm_context(job))


def _confirm_context(job: ImportJob) -> dict[str, Any]:
    options, state = options_of(job), WizardState.of(job)
    custom = custom_fields(job.tenant_id)
    new_fields = state.new_fields
    mapping_rows = []
    for header in state.headers:
        target = parse_target(options.field_mapping.get(header, "ignore"))
        mapping_rows.append((header, target_label(target, custom, new_fields), target.kind))
    labels = {name: label for name, label, _ in mapped_fields(job)}
    return {
        "job": job,
        "options": options,
        "state": state,
        "steps": stepper(job, "confirm"),
        "mapping_rows": mapping_rows,
        "strategy": dict(strategy_choices())[options.duplicate_strategy],
        "rules": [
            (labels.get(name, name), RULE_LABELS[rule])
            for name, rule in options.field_rules.items()
        ],
        "region": label_of(countries(), options.default_region),
        **_dry_run_context(job),
    }


def _dry_run_context(job: ImportJob) -> dict[str, Any]:
    state = WizardState.of(job)
    result = DryRunResult.of(job) or DryRunResult()  # none stored yet: nothing counted
    current = drafts.dry_run_is_current(job)
    running = current and job.dry_run_status in (RunStatus.PENDING, RunStatus.PROCESSING)
    estimate = job.total_rows or state.row_estimate
    processed = result.processed_rows
    percent = min(99, int(processed * 100 / estimate)) if estimate and running else 0
    labels = {name: label for name, label, _ in mapped_fields(job)}
    field_changes = [
        (labels.get(name, name.removeprefix("custom:")), count)
        for name, count in result.field_changes.items()
    ]
    counts = result.rows_by_outcome()
    outcome = stacked_bar([(kind, label, counts[kind]) for kind, label in WOULD_HAPPEN])
    return {
        "job": job,
        "options": options_of(job),
        "dry_run": result,
        "dry_run_current": current,
        # rows were corrected in the review since this check: its counts are out of date
        "corrected_since": not current and drafts.corrections_changed_only(job),
        "dry_run_running": running,
        "dry_run_percent": percent,
        "dry_run_estimate": estimate,
        "field_changes": field_changes,
        "outcome_bar": outcome,
        "field_bars": share_bars(field_changes, result.would_update),
    }


@bp.route("/<job_id>/dry-run", methods=["GET", "POST"])
@login_required
def dry_run(job_id: str) -> Any:
    """Start a dry run (POST) or get its progress and result as a partial (GET, htmx)."""
    job = _draft(job_id)
    if request.method == "POST":
        try:
            queue_dry_run(job)
        except QUEUE_ERRORS:
            db.session.rollback()
            flash("The check could not be started: the job queue is not reachable.", "error")
    if is_htmx():
        return render_template("wizard/_dry_run.html", **_dry_run_context(job))
    return redirect(url_for("wizard.confirm", job_id=job.id), 303)


@bp.route("/<job_id>/dry-run/errors.csv")
@login_required
def dry_run_errors(job_id: str) -> Any:
    """Every row the import would refuse, with its original cells, number and `error`, as CSV."""
    job = get_scoped_or_404(ImportJob, job_id)
    try:
        lines = refused_rows_csv(job)
    except (StorageError, FileFormatError, MappingError, OptionsError):
        abort(404)
    name = f"{PurePath(job.file_name or 'import').stem}-rows-with-errors.csv"
    return Response(
        lines,
        mimetype="text/csv",
        headers={"Content-Disposition": content_disposition(name)},
    )


@bp.post("/<job_id>/start")
@login_required
def start(job_id: str) -> Any:
    """Queue the import of a draft (once, even from two tabs)."""
    job = locked_draft(job_id)
    if job.follow_up_of:  # started from its review, where its corrected rows are counted
        db.session.rollback()
        return redirect(url_for("wizard.review", job_id=job.id), 303)
    problems = drafts.options_problems(job)
    if problems:
        db.session.rollback()
        raise StepNotReady(job.id, "options", " ".join(problems))
    try:
        queue_draft_import(job)
    except QUEUE_ERRORS:
        db.session.rollback()
        job = get_scoped_or_404(ImportJob, job_id)
        job.status = ImportStatus.DRAFT
        db.session.commit()
        flash(
            "The import could not be started: the job queue is not reachable. Try again in a "
            "minute; your choices are saved.",
            "error",
        )
        return redirect(url_for("wizard.confirm", job_id=job_id), 303)
    return redirect(url_for("wizard.job", job_id=job.id), 303)


@bp.post("/<job_id>/discard")
@login_required
def discard(job_id: str) -> Any:
    """Delete a draft and its file."""
    job = _draft(job_id)
    name = job.file_name
    drafts.discard(job)
    flash(f"The draft import of {name} was discarded.", "success")
    return redirect(url_for("main.dashboard"), 303)
