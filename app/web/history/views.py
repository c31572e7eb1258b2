"""History: every import and export, newest first, one page per import, and rollbacks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

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
from sqlalchemy import Select, Subquery, and_, func, literal, or_, select, union_all
from werkzeug.routing import BuildError

from app.extensions import db
from app.imports.mapping import STANDARD_FIELDS, parse_target
from app.imports.options import DUPLICATE_STRATEGIES, ImportOptions
from app.imports.service import ImportRefused
from app.imports.wizard_state import WizardState
from app.jobs.queue import QUEUE_ERRORS
from app.jobs.submit import queue_rollback
from app.models import Contact, CustomField, ExportJob, ImportEvent, ImportJob, Segment, Tag, User
from app.tenancy import get_scoped_or_404, scoped
from app.web.import_pages import progress_facts, resume_url
from app.web.paging import chosen_page
from app.web.partials import is_htmx

bp = Blueprint("history", __name__)

PAGE_SIZE = 25
CONTACTS_LISTED = 50
ERRORS_LISTED = 20
KINDS = {"all": "Imports and exports", "imports": "Imports", "exports": "Exports"}
STATUSES = {
    "": "Any status",
    "pending": "Waiting",
    "processing": "Running",
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "rolled_back": "Rolled back",
    "expired": "Expired",
}
EXPORT_SCOPES = {"full": "All contacts", "filtered": "Filtered contacts", "segment": "A segment"}
RULE_WORDS = {"overwrite": "overwrite", "fill_empty": "fill only if empty", "never": "never change"}


@dataclass
class HistoryEntry:
    """One line of the history: an import or an export."""

    kind: str
    item: Any
    who: str | None


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def export_is_expired(export: ExportJob) -> bool:
    """True once an export's file can no longer be downloaded."""
    expires = _aware(export.expires_at)
    return export.status == "expired" or (expires is not None and expires <= _now())


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


def _import_rows(status: str) -> Any:
    stmt = scoped(
        ImportJob, ImportJob.id, ImportJob.created_at, literal("import").label("kind")
    ).where(ImportJob.status != "draft")
    if status:
        stmt = stmt.where(ImportJob.status == status)
    return stmt


def _export_rows(status: str) -> Any:
    stmt = scoped(ExportJob, ExportJob.id, ExportJob.created_at, literal("export").label("kind"))
    now = _now()
    if status == "expired":
        stmt = stmt.where(or_(ExportJob.status == "expired", ExportJob.expires_at <= now))
    elif status == "completed":
        stmt = stmt.where(
            and_(
                ExportJob.status == "completed",
                or_(ExportJob.expires_at.is_(None), ExportJob.expires_at > now),
            )
        )
    elif status:
        stmt = stmt.where(ExportJob.status == status)
    return stmt


@bp.route("/history")
@login_required
def index() -> str:
    """Imports and exports, newest first, filtered by kind and status, 25 a page."""
    kind = request.args.get("kind", "all")
    kind = kind if kind in KINDS else "all"
    status = request.args.get("status", "")
    status = status if status in STATUSES else ""

    parts: list[Select[Any]] = []
    if kind in ("all", "imports") and status != "expired":
        parts.append(_import_rows(status))
    if kind in ("all", "exports") and status not in ("cancelled", "rolled_back"):
        parts.append(_export_rows(status))
    rows: Subquery | None = None
    if len(parts) > 1:
        rows = cast(Any, union_all)(*parts).subquery()  # mypy 2.4 crashes on its overloads
    elif parts:
        rows = parts[0].subquery()
    total = 0 if rows is None else db.session.scalar(select(func.count()).select_from(rows)) or 0
    page = chosen_page(total, PAGE_SIZE)
    entries: list[HistoryEntry] = []
    if rows is not None:
        found = db.session.execute(
            select(rows.c.id, rows.c.kind)
            .order_by(rows.c.created_at.desc(), rows.c.id)
            .limit(page.size)
            .offset(page.offset)
        ).all()
        entries = _load_entries([(row.id, row.kind) for row in found])
    template = "history/_list.html" if is_htmx() else "history/index.html"
    return render_template(
        template,
        entries=entries,
        total=total,
        page=page.number,
        pages=page.pages,
        kind=kind,
        status=status,
        kinds=KINDS,
        statuses=STATUSES,
        export_scopes=EXPORT_SCOPES,
        export_is_expired=export_is_expired,
        export_url=export_url,
        progress_facts=progress_facts,
    )


def _load_entries(found: list[tuple[uuid.UUID, str]]) -> list[HistoryEntry]:
    import_ids = [i for i, k in found if k == "import"]
    export_ids = [i for i, k in found if k == "export"]
    imports = {
        j.id: j for j in db.session.scalars(scoped(ImportJob).where(ImportJob.id.in_(import_ids)))
    }
    exports = {
        e.id: e for e in db.session.scalars(scoped(ExportJob).where(ExportJob.id.in_(export_ids)))
    }
    creators = {j.created_by for j in [*imports.values(), *exports.values()] if j.created_by}
    users = {
        u.id: u.name or u.email
        for u in db.session.scalars(scoped(User).where(User.id.in_(creators)))
    }
    entries = []
    for item_id, kind in found:
        item = imports.get(item_id) if kind == "import" else exports.get(item_id)
        if item is not None:
            entries.append(HistoryEntry(kind, item, users.get(item.created_by)))
    return entries


# --- one import ----------------------------------------------------------------------------


def rollback_plan(job: ImportJob) -> dict[str, int]:
    """What a rollback would do now: contacts deleted, restored (journal) and unlinked."""
    created_here = select(Contact.id).where(Contact.created_by_import_id == job.id)
    counts = dict(
        db.session.execute(
            select(ImportEvent.event_type, func.count(ImportEvent.id))
            .where(
                ImportEvent.import_job_id == job.id,
                ImportEvent.reverted_at.is_(None),
                ImportEvent.contact_id.not_in(created_here),  # deleted, not restored
            )
            .group_by(ImportEvent.event_type)
        ).all()
    )
    created = db.session.scalar(
        select(func.count(Contact.id)).where(Contact.created_by_import_id == job.id)
    )
    return {
        "deleted": created or 0,
        "restored": counts.get("updated", 0),
        "unlinked": sum(v for k, v in counts.items() if k not in ("created", "updated")),
    }


def rollback_refusal(job: ImportJob) -> str | None:
    """Why this import cannot be rolled back now, or None when it can."""
    if job.status in ("pending", "processing"):
        return "This import is still running: cancel it or wait until it ends, then roll it back."
    if job.status == "rolled_back" or not job.can_rollback:
        return "This import has already been rolled back."
    if job.rollback_status in ("pending", "processing"):
        return "A rollback of this import is under way."
    return None


def _rollback_context(job: ImportJob) -> dict[str, Any]:
    result = job.rollback_result or {}
    kept = result.get("keptContacts") or []
    still_there = set()
    if kept:
        ids = []
        for entry in kept:
            try:
                ids.append(uuid.UUID(entry["contactId"]))
            except (KeyError, ValueError):
                continue
        still_there = {
            str(i)
            for i in db.session.scalars(scoped(Contact, Contact.id).where(Contact.id.in_(ids)))
        }
    total = job.rollback_total or 0
    running = job.rollback_status in ("pending", "processing")
    percent = (
        100
        if job.rollback_status == "completed"
        else (min(99, int(job.rollback_processed * 100 / total)) if total else 0)
    )
    return {
        "job": job,
        "result": result,
        "kept": kept,
        "still_there": still_there,
        "rollback_running": running,
        "rollback_percent": percent,
        "refusal": rollback_refusal(job),
    }


@bp.route("/history/imports/<job_id>")
@login_required
def import_detail(job_id: str) -> Any:
    """What an import did: mapping, options, counts, errors, labels and contacts it created."""
    job = get_scoped_or_404(ImportJob, job_id)
    if job.status == "draft":
        return redirect(resume_url(job), 303)
    if is_htmx():
        context = _rollback_context(job)
        response = Response(render_template("history/_rollback.html", **context))
        if not context["rollback_running"]:
            # The rollback ended while the page polled: reload it, since counts, labels and
            # the contacts listed all changed.
            response.headers["HX-Refresh"] = "true"
        return response
    options = ImportOptions.from_dict(job.import_options or {})
    wizard_state = WizardState.of(job)
    custom = {f.key: f.label for f in db.session.scalars(scoped(CustomField))}
    mapping = []
    specs = job.field_mapping or options.field_mapping or {}
    # JSONB keeps keys in its own order: follow the file's column order when it is known.
    order = (job.import_options or {}).get("source_headers") or wizard_state.headers
    headers = [h for h in order if h in specs] + [h for h in specs if h not in order]
    for header in headers:
        target = parse_target(specs[header])
        if target.kind == "standard":
            label = STANDARD_FIELDS[str(target.key)]
        elif target.kind == "custom":
            label = custom.get(str(target.key), str(target.key))
        elif target.kind == "tags":
            label = "Tags"
        else:
            label = None
        mapping.append((header, label))
    created_tags = []
    if job.created_tag_ids:
        ids = [uuid.UUID(t) for t in job.created_tag_ids]
        created_tags = [t.name for t in db.session.scalars(scoped(Tag).where(Tag.id.in_(ids)))]
    segment = (
        db.session.scalar(scoped(Segment).where(Segment.id == job.segment_id))
        if job.segment_id
        else None
    )
    created_total: int | None = 0
    created: Sequence[Contact] = []
    if job.status != "rolled_back":  # after it, the ones left are listed as kept
        created_total = db.session.scalar(
            scoped(Contact, func.count(Contact.id)).where(Contact.created_by_import_id == job.id)
        )
        created = db.session.scalars(
            scoped(Contact)
            .where(Contact.created_by_import_id == job.id)
            .order_by(Contact.email)
            .limit(CONTACTS_LISTED)
        ).all()
    creator = (
        db.session.scalar(scoped(User).where(User.id == job.created_by)) if job.created_by else None
    )
    rule_labels = {
        name: (STANDARD_FIELDS.get(name) or custom.get(name.removeprefix("custom:"), name))
        for name in options.field_rules
    }
    return render_template(
        "history/import_detail.html",
        options=options,
        wizard_state=wizard_state,
        mapping=mapping,
        strategy=DUPLICATE_STRATEGIES.get(options.duplicate_strategy, options.duplicate_strategy),
        rules=[(rule_labels[n], RULE_WORDS.get(r, r)) for n, r in options.field_rules.items()],
        errors=(job.errors or [])[:ERRORS_LISTED],
        created_tags=created_tags,
        segment=segment,
        created=created,
        created_total=created_total or 0,
        creator=creator,
        progress=progress_facts(job),
        plan=rollback_plan(job),
        **_rollback_context(job),
    )


@bp.route("/history/imports/<job_id>/rollback", methods=["GET", "POST"])
@login_required
def rollback(job_id: str) -> Any:
    """Confirm a rollback, saying exactly what it will do; start it on POST."""
    job = get_scoped_or_404(ImportJob, job_id)
    if job.status == "draft":
        return redirect(resume_url(job), 303)
    detail_url = url_for("history.import_detail", job_id=job.id)
    if request.method == "POST":
        try:
            queue_rollback(job, force=request.form.get("force") == "yes")
        except ImportRefused as exc:
            flash(str(exc), "error")
        except QUEUE_ERRORS:
            db.session.rollback()
            job = get_scoped_or_404(ImportJob, job_id)
            if job.rollback_status == "pending":
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
