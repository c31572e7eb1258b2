"""The import wizard: upload -> file settings -> mapping with preview -> options -> confirm,
then the job page with live progress. Every step is a normal page; htmx only speeds it up.

This module holds the blueprint, what every step shares (the draft of a URL, the stepper, the
error pages) and the job page; each step's routes are in a module beside it (`file_step`,
`mapping_step`, `options_step`, `confirm_step`, `review`), loaded by `register_blueprints`."""

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
from app.imports.draft_mapping import mapping_of
from app.imports.error_report import error_report_stream
from app.imports.service import ImportRefused, request_cancel
from app.imports.wizard_state import STEPS, WizardState
from app.models import ImportJob, ImportStatus
from app.sizes import format_size
from app.storage import StorageError
from app.tenancy import current_tenant_id, get_scoped_or_404, scoped
from app.web.import_pages import STEP_ENDPOINTS, progress_facts, resume_url, started_import_or_404
from app.web.partials import is_htmx, render_page_or_part
from app.web.wizard.forms import UploadForm

bp = Blueprint("wizard", __name__, url_prefix="/imports")

STEP_TITLES = {
    "file": "Upload",
    "mapping": "Map columns",
    "options": "Options",
    "confirm": "Review and start",
}


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
    if is_htmx():
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
    if wants_json():
        return jsonify(error=message), 413
    return render_template(
        "wizard/upload.html", form=UploadForm(formdata=None), error=message, **upload_context()
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


def wants_json() -> bool:
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
    if job.status != ImportStatus.DRAFT:
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
    if job.status != ImportStatus.DRAFT:
        db.session.rollback()
        raise AlreadyStarted(job.id)
    return job


def stepper(job: ImportJob | None, current: str) -> list[dict[str, Any]]:
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


def upload_context() -> dict[str, Any]:
    return {
        "steps": stepper(None, "file"),
        "max_bytes": current_app.config["MAX_CONTENT_LENGTH"],
        "max_size": format_size(current_app.config["MAX_CONTENT_LENGTH"]),
    }


def require_mapping(job: ImportJob) -> None:
    draft = mapping_of(job)
    if not draft.is_valid:
        problems = list(draft.row_errors.values()) + draft.problems
        raise StepNotReady(job.id, "mapping", "Finish the mapping first: " + " ".join(problems))


# --- the job page --------------------------------------------------------------------------


@bp.route("/<job_id>")
@login_required
def job(job_id: str) -> Any:
    """The import's progress, live; its summary and next steps once it ends."""
    job = started_import_or_404(job_id)
    return render_page_or_part(
        "wizard/job.html", "wizard/_progress.html", job=job, progress=progress_facts(job)
    )


def cancel_refusal(job: ImportJob) -> str | None:
    """Why a Cancel of this import cannot be asked for now, or None when it can."""
    if job.status not in (ImportStatus.PENDING, ImportStatus.PROCESSING):
        return f"This import has already ended ({(job.status or '').replace('_', ' ')})."
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
    job = started_import_or_404(job_id)
    if request.method == "GET":
        if is_htmx():
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
        message, category = "Cancelling: the import stops after the batch it is writing.", "info"
    except ImportRefused as exc:
        message, category = str(exc), "error"
    if is_htmx():  # the progress card itself says "Stopping…", or how the import ended
        return render_template("wizard/_progress.html", job=job, progress=progress_facts(job))
    flash(message, category)
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
