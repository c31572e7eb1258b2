"""The wizard's first step: upload a file (it becomes a draft), then check or change the
settings it is read with."""

from __future__ import annotations

from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.imports import drafts
from app.imports.uploads import UploadRefused
from app.imports.wizard_state import WizardState, options_of
from app.models import ImportJob
from app.storage import StorageError
from app.tenancy import current_tenant_id
from app.web.partials import is_htmx, render_page_or_part
from app.web.wizard.forms import DELIMITERS, ENCODINGS, FILE_TYPES, SourceForm, UploadForm, label_of
from app.web.wizard.views import _draft, bp, stepper, upload_context, wants_json


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
                if wants_json():
                    return jsonify(next=next_url)
                return redirect(next_url, 303)
        else:
            error = next(iter(form.file.errors), None) or "The form expired: reload the page."
        if wants_json():
            return jsonify(error=error), 400
    status = 400 if error else 200
    return render_template("wizard/upload.html", form=form, error=error, **upload_context()), status


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
        if error is None and not is_htmx():  # a plain form post goes on (or back) to a page
            if request.form.get("action") == "continue":
                drafts.reach(job, "mapping")
                return redirect(url_for("wizard.mapping", job_id=job.id), 303)
            return redirect(url_for("wizard.source", job_id=job.id), 303)
        if error is None:  # htmx: the part, read afresh with the new settings
            form = SourceForm(formdata=None, data=_source_data(job))
    elif request.method == "POST":
        error = "The form expired: reload the page and try again."
    return render_page_or_part(
        "wizard/source.html",
        "wizard/_source.html",
        page_status=422 if error else 200,
        **_source_context(job, form, error),
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
        "steps": stepper(job, "file"),
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
