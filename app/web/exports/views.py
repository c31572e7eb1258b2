"""Exports: the form with a live count, the job page, and the download redirect."""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from app.exports.fields import ExportField, resolve_fields
from app.exports.query import CONDITION_OPERATORS, TAG_MODES, ExportFilters, ExportQueryError
from app.exports.service import (
    ExportExpired,
    ExportNotReady,
    ExportRefused,
    count_matching,
    download_link,
    tenant_fields,
)
from app.extensions import db
from app.jobs.submit import submit_export
from app.models import ExportJob, ExportStatus, Segment, Tag
from app.tenancy import current_tenant_id, get_scoped_or_404, scoped
from app.web.exports.forms import FORMATS, SCOPES, ExportForm
from app.web.partials import htmx, is_htmx

bp = Blueprint("exports", __name__, url_prefix="/exports")


def _form(formdata: MultiDict[str, str] | None = None, csrf: bool = True) -> ExportForm:
    """The export form with the tenant's fields, tags and segments."""
    options: dict[str, object] = {} if csrf else {"meta": {"csrf": False}}
    if formdata is not None:
        options["formdata"] = formdata
    form = ExportForm(**options)
    tags = db.session.execute(scoped(Tag, Tag.name_normalized, Tag.name).order_by(Tag.name)).all()
    segments = db.session.execute(
        scoped(Segment, Segment.id, Segment.name).order_by(Segment.name)
    ).all()
    source = formdata if formdata is not None else request.form
    form.prepare(
        tenant_fields(current_tenant_id()),
        [(t.name_normalized, t.name) for t in tags],
        [(str(s.id), s.name) for s in segments],
        source.getlist("order"),
    )
    return form


def _prefill(form: ExportForm) -> None:
    """Start from what the link says: `?segment=<id>` or `?tag=<name>` (contacts list)."""
    segment = request.args.get("segment", "")
    if segment and segment in form.segment.choices:
        form.scope.data, form.segment.data = "segment", segment
    tag = request.args.get("tag", "").strip().lower()
    if tag and tag in form.tags.choices:
        form.scope.data, form.tags.data = "filtered", [tag]


PARTIALS = {"field-picker": "exports/_fields.html", "conditions": "exports/_conditions.html"}


def _render_form(form: ExportForm, status: int = 200) -> tuple[str, int]:
    """The whole page, or the part an htmx request replaces (field order, conditions)."""
    template = "exports/new.html"
    if is_htmx() and htmx().target in PARTIALS:
        template = PARTIALS[htmx().target]
    return render_template(
        template,
        form=form,
        count=_count(form),
        condition_operators=CONDITION_OPERATORS,
    ), status


def _count(form: ExportForm) -> int | None:
    try:
        return count_matching(current_tenant_id(), form.scope.data or "full", form.to_filters())
    except (ExportQueryError, ValueError):
        return None


def _remember_choices(form: ExportForm) -> None:
    """Keep the user's "For Excel" choice of a CSV export for their next export form."""
    if form.file_format.data == "csv":
        current_user.export_csv_for_excel = bool(form.csv_for_excel.data)
        db.session.commit()


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> Response | tuple[str, int]:
    """The export form; posting it creates the export and opens its page."""
    form = _form()
    if request.method == "GET":
        form.csv_for_excel.data = current_user.wants_csv_for_excel
        _prefill(form)
        return _render_form(form)
    action = request.form.get("action", "create")
    if action != "create":
        if action == "add-condition":
            form.add_condition()
        elif action.startswith(("up:", "down:")):
            direction, _, key = action.partition(":")
            form.move(key, -1 if direction == "up" else 1)
        return _render_form(form)
    if not form.validate():
        return _render_form(form, 400)
    try:
        job = submit_export(current_tenant_id(), form.to_request(), user_id=current_user.id)
    except ExportRefused as exc:
        form.form_errors.append(str(exc))
        return _render_form(form, 400)
    _remember_choices(form)
    return redirect(url_for("exports.detail", export_id=job.id), code=303)


@bp.route("/count")
@login_required
def count() -> tuple[str, int]:
    """How many contacts the form's scope and filters match (the form's live count)."""
    form = _form(request.args, csrf=False)
    return render_template("exports/_count.html", count=_count(form)), 200


def _describe(job: ExportJob, fields: list[ExportField]) -> dict[str, object]:
    """What the job page says about the export's scope, filters and fields."""
    filters = ExportFilters.from_dict(job.filters)
    tags = {t.name_normalized: t.name for t in db.session.scalars(scoped(Tag))}
    segment = None
    if filters.segment_id:
        segment = db.session.scalar(scoped(Segment).where(Segment.id == _uuid(filters.segment_id)))
    labels = {f.key: f.label for f in tenant_fields(job.tenant_id)}
    lines = []
    if filters.tags:
        names = ", ".join(tags.get(t, t) for t in filters.tags)
        lines.append(f"has {TAG_MODES.get(filters.tags_mode, 'any of')} these tags: {names}")
    for label, start, end in (
        ("created", filters.created_from, filters.created_to),
        ("updated", filters.updated_from, filters.updated_to),
    ):
        if start or end:
            lines.append(f"{label} {_range(start, end)}")
    if filters.statuses:
        lines.append("subscription status " + " or ".join(filters.statuses))
    for c in filters.conditions:
        label = labels.get(c.field, c.field)
        op = CONDITION_OPERATORS.get(c.op, c.op)
        lines.append(f"{label} {op}" + (f" “{c.value}”" if c.op in ("equals", "contains") else ""))
    if filters.min_opened:
        lines.append(f"opened at least {filters.min_opened} emails")
    if filters.min_clicked:
        lines.append(f"clicked at least {filters.min_clicked} emails")
    if filters.engaged_since:
        lines.append(f"engaged since {filters.engaged_since}")
    return {
        "scope": dict(SCOPES).get(job.export_type or "full", job.export_type),
        "segment": segment.name if segment else None,
        "filters": lines,
        "fields": [f.label for f in fields],
        "format": dict(FORMATS).get(job.file_format or "", job.file_format),
    }


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _range(start: str | None, end: str | None) -> str:
    if start and end:
        return f"between {start} and {end}"
    return f"from {start}" if start else f"until {end}"


@bp.route("/<export_id>")
@login_required
def detail(export_id: str) -> tuple[str, int]:
    """The export's page: progress while it runs, then the Download button."""
    job = get_scoped_or_404(ExportJob, export_id)
    if is_htmx():
        status = 286 if job.is_finished or job.is_expired() else 200
        return render_template("exports/_status.html", job=job), status
    fields = resolve_fields(job.selected_fields or [], tenant_fields(job.tenant_id))
    back = (
        (url_for("history.index"), "History")
        if "history.index" in current_app.view_functions
        else (url_for("main.dashboard"), "Dashboard")
    )
    return render_template(
        "exports/detail.html", job=job, about=_describe(job, fields), back=back
    ), 200


@bp.route("/<export_id>/download")
@login_required
def download(export_id: str) -> Response | tuple[str, int]:
    """Redirect to a signed link to the file, valid for five minutes."""
    job = get_scoped_or_404(ExportJob, export_id)
    try:
        url = download_link(job)
    except ExportExpired as exc:
        return render_template(
            "exports/unavailable.html", job=job, title="Expired", message=str(exc)
        ), 410
    except ExportNotReady as exc:
        title = "Nothing to download" if job.status == ExportStatus.FAILED else "Not ready yet"
        return render_template(
            "exports/unavailable.html", job=job, title=title, message=str(exc)
        ), 400
    current_app.logger.info("export %s: download link issued", job.id)
    return redirect(url, code=302)
