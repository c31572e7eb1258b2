"""The import wizard: upload -> file settings -> mapping with preview -> options -> confirm,
then the job page with live progress. Every step is a normal page; htmx only speeds it up."""

from __future__ import annotations

import uuid
from pathlib import PurePath
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse

from app.extensions import db
from app.imports import drafts
from app.imports.consent import NEW_CONTACT_STATUSES, NON_SUBSCRIBED
from app.imports.draft_mapping import (
    NEW_FIELD,
    MappingDraft,
    custom_fields,
    key_for_name,
    mapped_fields,
    mapping_of,
    preview_of,
    read_mapping,
    tags_mapped,
)
from app.imports.error_report import error_report_stream, refused_rows_csv
from app.imports.mapping import STANDARD_FIELDS, MappingError, parse_target
from app.imports.options import OptionsError
from app.imports.parsing import FileFormatError
from app.imports.regions import usual_region
from app.imports.service import ImportRefused, request_cancel
from app.imports.uploads import UploadRefused
from app.imports.wizard_state import STEPS, WizardState, options_of
from app.jobs.queue import QUEUE_ERRORS
from app.jobs.submit import queue_draft_import, queue_dry_run
from app.models import ImportJob, Segment, Tag
from app.models.contact import CUSTOM_FIELD_TYPES
from app.storage import StorageError
from app.storage.base import content_disposition, format_size
from app.tenancy import current_tenant_id, get_scoped_or_404, scoped
from app.web.charts import share_bars, stacked_bar
from app.web.import_pages import STEP_ENDPOINTS, progress_facts, resume_url
from app.web.wizard.forms import (
    DELIMITERS,
    ENCODINGS,
    FILE_TYPES,
    RULE_LABELS,
    OptionsForm,
    SourceForm,
    UploadForm,
    countries,
    countries_for,
    label_of,
    read_rules,
    strategy_choices,
)

bp = Blueprint("wizard", __name__, url_prefix="/imports")

STEP_TITLES = {
    "file": "Upload",
    "mapping": "Map columns",
    "options": "Options",
    "confirm": "Review and start",
}
CUSTOM_TYPE_LABELS = {"text": "Text", "number": "Number", "date": "Date", "boolean": "Yes / no"}


class AlreadyStarted(Exception):
    """A wizard step was asked for an import that is no longer a draft."""

    def __init__(self, job_id: uuid.UUID) -> None:
        super().__init__(str(job_id))
        self.job_id = job_id


class StepNotReady(Exception):
    """A step was opened before the one it depends on was finished."""

    def __init__(self, job_id: uuid.UUID, step: str, message: str) -> None:
        super().__init__(message)
        self.job_id, self.step, self.message = job_id, step, message


@bp.errorhandler(AlreadyStarted)
def already_started(exc: AlreadyStarted) -> BaseResponse:
    """Steps of a started import lead to its job page."""
    flash("This import has already started: here is its progress.", "info")
    return _go(url_for("wizard.job", job_id=exc.job_id))


@bp.errorhandler(StepNotReady)
def step_not_ready(exc: StepNotReady) -> BaseResponse:
    """A step opened too early sends the user to the step that needs finishing."""
    flash(exc.message, "error")
    return _go(url_for(STEP_ENDPOINTS[exc.step], job_id=exc.job_id))


def _go(url: str) -> BaseResponse:
    """Send the browser to another page; an htmx request is told to load it as a whole page."""
    if request.htmx:
        response = Response(status=204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, 303)


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> tuple[Any, int]:
    """A file over the upload limit is refused on the upload step with a sentence."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    message = (
        f"The file is larger than the upload limit of {format_size(limit)}: "
        "split it into smaller files and upload them one by one."
    )
    if _wants_json():
        return jsonify(error=message), 413
    return render_template(
        "wizard/upload.html", form=UploadForm(formdata=None), error=message, **_upload_context()
    ), 413


@bp.after_request
def no_store(response: Response) -> Response:
    """Wizard pages always come from the server, so back, reload and a second tab agree."""
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("HX-Request")
    return response


@bp.app_context_processor
def wizard_helpers() -> dict[str, Any]:
    """`import_drafts()` for the dashboard: the tenant's unfinished imports."""

    def import_drafts() -> list[ImportJob]:
        if not current_user.is_authenticated:
            return []
        return drafts.drafts(current_tenant_id())

    return {"import_drafts": import_drafts, "resume_url": resume_url}


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


# what a follow-up draft (refused rows of an import, corrected) offers: its mapping and options
# are those of the import it follows up, so the other steps send it to its review
FOLLOW_UP_ENDPOINTS = {
    "wizard.review",
    "wizard.save_review_page",
    "wizard.save_review_row",
    "wizard.review_bulk",
    "wizard.start_follow_up",
    "wizard.discard",
}


def _draft(job_id: str) -> ImportJob:
    job = get_scoped_or_404(ImportJob, job_id)
    if job.status != "draft":
        raise AlreadyStarted(job.id)
    if job.follow_up_of and request.endpoint not in FOLLOW_UP_ENDPOINTS:
        abort(redirect(url_for("wizard.review", job_id=job.id), 303))
    return job


def locked_draft(job_id: str) -> ImportJob:
    """The draft, its row locked until the commit: of two requests that change or start it
    (two tabs), the second waits and sees what the first did (an import started: refused)."""
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        abort(404)
    job = db.session.scalar(
        scoped(ImportJob)
        .where(ImportJob.id == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if job is None:
        abort(404)
    if job.status != "draft":
        db.session.rollback()
        raise AlreadyStarted(job.id)
    return job


def _stepper(job: ImportJob | None, current: str) -> list[dict[str, Any]]:
    reached = WizardState.of(job).reached if job else None
    steps = []
    for index, step in enumerate(STEPS):
        done = reached is not None and index <= STEPS.index(reached)
        steps.append(
            {
                "number": index + 1,
                "title": STEP_TITLES[step],
                "current": step == current,
                "url": url_for(STEP_ENDPOINTS[step], job_id=job.id) if job and done else None,
            }
        )
    return steps


def _upload_context() -> dict[str, Any]:
    return {
        "steps": _stepper(None, "file"),
        "max_bytes": current_app.config["MAX_CONTENT_LENGTH"],
        "max_size": format_size(current_app.config["MAX_CONTENT_LENGTH"]),
    }


# --- step 1: upload ------------------------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"])
@login_required
def upload() -> Any:
    """Choose or drop a file; it is checked, stored and becomes a draft import."""
    form = UploadForm()
    error = None
    if request.method == "POST":
        if form.validate_on_submit():
            upload_file = form.file.data
            try:
                job = drafts.start_draft(
                    current_tenant_id(), current_user.id, upload_file.stream, upload_file.filename
                )
            except UploadRefused as exc:
                error = str(exc)
            except StorageError as exc:
                error = f"The file could not be stored: {exc}"
            else:
                next_url = url_for("wizard.source", job_id=job.id)
                if _wants_json():
                    return jsonify(next=next_url)
                return redirect(next_url, 303)
        else:
            error = next(iter(form.file.errors), None) or "The form expired: reload the page."
        if _wants_json():
            return jsonify(error=error), 400
    status = 400 if error else 200
    return render_template(
        "wizard/upload.html", form=form, error=error, **_upload_context()
    ), status


@bp.route("/<job_id>/file", methods=["GET", "POST"])
@login_required
def source(job_id: str) -> Any:
    """What was detected in the file, changeable when the guess is wrong."""
    job = _draft(job_id)
    options = options_of(job)
    form = SourceForm(
        data={
            "file_type": options.file_type,
            "encoding": options.encoding or "utf-8",
            "delimiter": options.delimiter or ",",
            "sheet": options.sheet or "",
        }
    )
    error = None
    if request.method == "POST" and form.validate_on_submit():
        file_type = form.file_type.data
        if file_type not in dict(FILE_TYPES):
            file_type = options.file_type
        if form.delimiter.data not in dict(DELIMITERS):
            form.delimiter.data = options.delimiter
        wanted = {
            "file_type": file_type,
            "encoding": (form.encoding.data or None) if file_type != "xlsx" else None,
            "delimiter": form.delimiter.data if file_type == "csv" else None,
            "sheet": (form.sheet.data or None) if file_type == "xlsx" else None,
        }
        current = {
            "file_type": options.file_type,
            "encoding": options.encoding,
            "delimiter": options.delimiter,
            "sheet": options.sheet,
        }
        if wanted["file_type"] != current["file_type"]:
            # Another type: let the reader detect the rest afresh.
            wanted.update(encoding=None, delimiter=None, sheet=None)
        if wanted != current:
            try:
                dropped = drafts.reread(job, **wanted)
                if dropped:
                    flash(
                        f"The file is now read differently: the {dropped:,} correction"
                        f"{'' if dropped == 1 else 's'} made in the review named rows and cells "
                        "of the file as read before, and were removed."
                    )
            except UploadRefused as exc:
                error = str(exc)
        if error is None and request.form.get("action") == "continue" and not request.htmx:
            drafts.reach(job, "mapping")
            return redirect(url_for("wizard.mapping", job_id=job.id), 303)
        if error is None and not request.htmx:
            return redirect(url_for("wizard.source", job_id=job.id), 303)
        if error is None:
            form = SourceForm(formdata=None, data=_source_data(job))
    elif request.method == "POST":
        error = "The form expired: reload the page and try again."
    template = "wizard/_source.html" if request.htmx else "wizard/source.html"
    return render_template(template, **_source_context(job, form, error)), (
        422 if error and not request.htmx else 200
    )


def _source_data(job: ImportJob) -> dict[str, Any]:
    options = options_of(job)
    return {
        "file_type": options.file_type,
        "encoding": options.encoding or "utf-8",
        "delimiter": options.delimiter or ",",
        "sheet": options.sheet or "",
    }


def _source_context(job: ImportJob, form: SourceForm, error: str | None) -> dict[str, Any]:
    options, state = options_of(job), WizardState.of(job)
    encodings = list(ENCODINGS)
    if options.encoding and options.encoding not in dict(encodings):
        encodings.insert(0, (options.encoding, options.encoding.upper()))
    form.encoding.choices = dict(encodings)
    form.sheet.choices = {name: name for name in state.sheets}
    detected = state.detected or {}
    return {
        "job": job,
        "form": form,
        "error": error,
        "options": options,
        "state": state,
        "steps": _stepper(job, "file"),
        "sample": state.sample[:5],
        "file_type_label": label_of(FILE_TYPES, options.file_type),
        "encoding_label": label_of(encodings, options.encoding),
        "delimiter_label": label_of(DELIMITERS, options.delimiter),
        "detected": detected,
        "changed": any(
            detected.get(k) != getattr(options, k)
            for k in ("file_type", "encoding", "delimiter", "sheet")
        ),
    }


# --- step 2: mapping -----------------------------------------------------------------------


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
        if request.htmx:
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
        "steps": _stepper(job, "mapping"),
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
        "field_label": lambda target: _target_label(target, custom, draft.new_fields),
        "options": options_of(job),
    }


def _target_label(target: Any, custom: dict[str, Any], new_fields: dict[str, Any]) -> str:
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


# --- step 3: options -----------------------------------------------------------------------


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


def _require_mapping(job: ImportJob) -> None:
    draft = mapping_of(job)
    if not draft.is_valid:
        problems = list(draft.row_errors.values()) + draft.problems
        raise StepNotReady(job.id, "mapping", "Finish the mapping first: " + " ".join(problems))


@bp.route("/<job_id>/options", methods=["GET", "POST"])
@login_required
def options(job_id: str) -> Any:
    """Duplicates, tags, segment, checks, and per-field rules for updates."""
    job = _draft(job_id)
    _require_mapping(job)
    fields = mapped_fields(job)
    status = 200
    if request.method == "POST":
        form = _options_form(job, request.form)
        valid = form.validate_on_submit()
        advance = request.form.get("action") == "continue"
        if valid or not advance:
            _apply_options(job, form, [name for name, _, _ in fields], valid and advance)
        if request.htmx:
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
        steps=_stepper(job, "options"),
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


# --- step 4: confirm and dry run -----------------------------------------------------------


@bp.route("/<job_id>/confirm")
@login_required
def confirm(job_id: str) -> Any:
    """A summary of file, mapping and options, and what a dry run over the file found."""
    job = _draft(job_id)
    _require_mapping(job)
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
        mapping_rows.append((header, _target_label(target, custom, new_fields), target.kind))
    labels = {name: label for name, label, _ in mapped_fields(job)}
    return {
        "job": job,
        "options": options,
        "state": state,
        "steps": _stepper(job, "confirm"),
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
    result = job.dry_run or {}
    current = drafts.dry_run_is_current(job)
    running = current and job.dry_run_status in ("pending", "processing")
    estimate = job.total_rows or state.row_estimate
    processed = result.get("processedRows", 0)
    percent = min(99, int(processed * 100 / estimate)) if estimate and running else 0
    labels = {name: label for name, label, _ in mapped_fields(job)}
    field_changes = [
        (labels.get(name, name.removeprefix("custom:")), count)
        for name, count in (result.get("fieldChanges") or {}).items()
    ]
    outcome = stacked_bar(
        [
            ("created", "would be created", result.get("wouldCreate", 0)),
            ("updated", "would be updated", result.get("wouldUpdate", 0)),
            ("unchanged", "already up to date", result.get("wouldLeaveUnchanged", 0)),
            ("repeated", "repeat an earlier row", result.get("wouldRepeat", 0)),
            ("skipped", "would be skipped", result.get("wouldSkip", 0)),
            ("refused", "refused for errors", result.get("errorRows", 0)),
        ]
    )
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
        "field_bars": share_bars(field_changes, result.get("wouldUpdate", 0)),
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
    if request.htmx:
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
        job.status = "draft"
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


# --- the job page --------------------------------------------------------------------------


@bp.route("/<job_id>")
@login_required
def job(job_id: str) -> Any:
    """The import's progress, live; its summary and next steps once it ends."""
    job = get_scoped_or_404(ImportJob, job_id)
    if job.status == "draft":
        return redirect(resume_url(job), 303)
    context = {"job": job, "progress": progress_facts(job)}
    if request.htmx:
        return render_template("wizard/_progress.html", **context)
    return render_template("wizard/job.html", **context)


def cancel_refusal(job: ImportJob) -> str | None:
    """Why a Cancel of this import cannot be asked for now, or None when it can."""
    if job.status not in ("pending", "processing"):
        return f"This import has already ended ({job.status.replace('_', ' ')})."
    if job.cancel_requested:
        return "This import is already stopping: it ends after the batch it is writing."
    return None


@bp.route("/<job_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel(job_id: str) -> Any:
    """Ask first (GET); then stop a running import at the next batch (POST).

    What was written stays and can be rolled back. An htmx GET asks inside the progress card,
    whose poll then comes here, so the question stays up while the numbers move.
    """
    job = get_scoped_or_404(ImportJob, job_id)
    if job.status == "draft":
        return redirect(resume_url(job), 303)
    if request.method == "GET":
        if request.htmx:
            return render_template(
                "wizard/_progress.html",
                job=job,
                progress=progress_facts(job),
                confirming_cancel=True,
                # focus moves to the question on the click, not on every poll after it
                focus_question=request.headers.get("HX-Trigger") == "cancel-import",
            )
        return render_template("wizard/cancel.html", job=job, refusal=cancel_refusal(job))
    try:
        request_cancel(job)
    except ImportRefused as exc:
        if not request.htmx:
            flash(str(exc), "error")
    else:
        if not request.htmx:  # the partial itself says "Stopping…"
            flash("Cancelling: the import stops after the batch it is writing.", "info")
    if request.htmx:
        return render_template("wizard/_progress.html", job=job, progress=progress_facts(job))
    return redirect(url_for("wizard.job", job_id=job.id), 303)


@bp.route("/<job_id>/error-report")
@login_required
def error_report(job_id: str) -> Any:
    """The rows that did not go in, with `row` and `error` columns, to fix and import again."""
    job = get_scoped_or_404(ImportJob, job_id)
    if not job.error_report_key:
        abort(404)
    try:
        stream = error_report_stream(job)
    except (ImportRefused, StorageError):
        abort(404)
    name = f"{PurePath(job.file_name or 'import').stem}-errors.csv"
    return send_file(stream, mimetype="text/csv", as_attachment=True, download_name=name)
