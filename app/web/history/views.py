"""History: every import and export, newest first, one page per import, and rollbacks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required
from werkzeug.routing import BuildError

from app.extensions import db
from app.history import (
    ROLLBACK_RUNNING,
    history_page,
    import_report,
    kept_still_there,
    rollback_plan,
    rollback_refusal,
)
from app.imports.options import DUPLICATE_STRATEGIES
from app.imports.rollback_tally import RollbackTally
from app.imports.service import ImportRefused
from app.jobs.queue import QUEUE_ERRORS
from app.jobs.submit import queue_rollback
from app.models import ExportJob, ExportStatus, ImportJob, ImportStatus, RunStatus
from app.tenancy import current_tenant_id, get_scoped_or_404
from app.web.import_pages import progress_facts, started_import_or_404
from app.web.partials import is_htmx, render_page_or_part

bp = Blueprint("history", __name__)

PAGE_SIZE = 25
CONTACTS_LISTED = 50
ERRORS_LISTED = 20
KINDS = {"all": "Imports and exports", "imports": "Imports", "exports": "Exports"}
STATUSES = {
    "": "Any status",
    ImportStatus.PENDING: "Waiting",
    ImportStatus.PROCESSING: "Running",
    ImportStatus.COMPLETED: "Completed",
    ImportStatus.FAILED: "Failed",
    ImportStatus.CANCELLED: "Cancelled",
    ImportStatus.ROLLED_BACK: "Rolled back",
    ExportStatus.EXPIRED: "Expired",
}
EXPORT_SCOPES = {"full": "All contacts", "filtered": "Filtered contacts", "segment": "A segment"}
RULE_WORDS = {"overwrite": "overwrite", "fill_empty": "fill only if empty", "never": "never change"}


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def export_is_expired(export: ExportJob) -> bool:
    """True once an export's file can no longer be downloaded."""
    expires = _aware(export.expires_at)
    return export.status == ExportStatus.EXPIRED or (expires is not None and expires <= _now())


def export_url(endpoint: str, export: ExportJob) -> str | None:
    """A link to another blueprint's export page, when that blueprint is installed."""
    if endpoint not in current_app.view_functions:
        return None
    for rule in current_app.url_map.iter_rules(endpoint):
        arguments = sorted(rule.arguments)
        if len(arguments) == 1:
            try:
                values: dict[str, Any] = {arguments[0]: export.id}
                return url_for(endpoint, **values)
            except BuildError:
                return None
    return None


@bp.route("/history")
@login_required
def index() -> tuple[str, int]:
    """Imports and exports, newest first, filtered by kind and status, 25 a page."""
    kind = request.args.get("kind", "all")
    kind = kind if kind in KINDS else "all"
    status = request.args.get("status", "")
    status = status if status in STATUSES else ""
    asked = request.args.get("page", 1, type=int) or 1
    history = history_page(current_tenant_id(), kind, status, asked, PAGE_SIZE)
    return render_page_or_part(
        "history/index.html",
        "history/_list.html",
        entries=history.entries,
        page=history.page,
        kind=kind,
        status=status,
        kinds=KINDS,
        statuses=STATUSES,
        export_scopes=EXPORT_SCOPES,
        export_is_expired=export_is_expired,
        export_url=export_url,
        progress_facts=progress_facts,
    )


# --- one import ----------------------------------------------------------------------------


def _rollback_context(job: ImportJob) -> dict[str, Any]:
    result = RollbackTally.of(job) or RollbackTally()
    total = job.rollback_total or 0
    percent = (
        100
        if job.rollback_status == RunStatus.COMPLETED
        else (min(99, int(job.rollback_processed * 100 / total)) if total else 0)
    )
    return {
        "job": job,
        "result": result,
        "kept": result.kept_contacts,
        "still_there": kept_still_there(job, current_tenant_id()),
        "rollback_running": job.rollback_status in ROLLBACK_RUNNING,
        "rollback_percent": percent,
        "refusal": rollback_refusal(job),
    }


@bp.route("/history/imports/<job_id>")
@login_required
def import_detail(job_id: str) -> Any:
    """What an import did: mapping, options, counts, errors, labels and contacts it created."""
    job = started_import_or_404(job_id)
    if is_htmx():
        context = _rollback_context(job)
        response = Response(render_template("history/_rollback.html", **context))
        if not context["rollback_running"]:
            # The rollback ended while the page polled: reload it, since counts, labels and
            # the contacts listed all changed.
            response.headers["HX-Refresh"] = "true"
        return response
    report = import_report(job, current_tenant_id(), CONTACTS_LISTED)
    options = report.options
    return render_template(
        "history/import_detail.html",
        options=options,
        wizard_state=report.wizard_state,
        mapping=report.mapping,
        strategy=DUPLICATE_STRATEGIES.get(options.duplicate_strategy, options.duplicate_strategy),
        rules=[(label, RULE_WORDS.get(rule, rule)) for label, rule in report.rules],
        errors=(job.errors or [])[:ERRORS_LISTED],
        created_tags=report.created_tags,
        segment=report.segment,
        created=report.created,
        created_total=report.created_total,
        creator=report.creator,
        progress=progress_facts(job),
        plan=rollback_plan(job),
        **_rollback_context(job),
    )


@bp.route("/history/imports/<job_id>/rollback", methods=["GET", "POST"])
@login_required
def rollback(job_id: str) -> Any:
    """Confirm a rollback, saying exactly what it will do; start it on POST."""
    job = started_import_or_404(job_id)
    detail_url = url_for("history.import_detail", job_id=job.id)
    if request.method == "POST":
        try:
            queue_rollback(job, force=request.form.get("force") == "yes")
        except ImportRefused as exc:
            flash(str(exc), "error")
        except QUEUE_ERRORS:
            db.session.rollback()
            job = get_scoped_or_404(ImportJob, job_id)
            if job.rollback_status == RunStatus.PENDING:
                job.rollback_status = None
                db.session.commit()
            flash("The rollback could not be started: the job queue is not reachable.", "error")
        else:
            flash("Rolling back: the page shows its progress.", "info")
        return redirect(detail_url + "#rollback", 303)
    return render_template(
        "history/rollback.html",
        job=job,
        plan=rollback_plan(job),
        refusal=rollback_refusal(job),
    )


@bp.after_request
def no_store(response: Response) -> Response:
    """Progress must never come from a cache."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.vary.add("HX-Request")
    return response
