"""What the history pages read: a tenant's imports and exports newest first, and what one
import did (its mapping, labels, segment, created contacts and what a rollback would do).

The tenant is given by the caller (the web passes the signed-in user's); nothing here reads
the request.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, and_, func, or_, select, union_all

from app.extensions import db
from app.imports.mapping import STANDARD_FIELDS, parse_target
from app.imports.options import ImportOptions
from app.imports.rollback_tally import RollbackTally
from app.imports.wizard_state import WizardState
from app.models import (
    Contact,
    CustomField,
    ExportJob,
    ExportStatus,
    ImportEvent,
    ImportJob,
    ImportStatus,
    RunStatus,
    Segment,
    Tag,
    User,
)
from app.paging import page_within
from app.tenancy import owned

RUNNING = (ImportStatus.PENDING, ImportStatus.PROCESSING)
ROLLBACK_RUNNING = (RunStatus.PENDING, RunStatus.PROCESSING)


@dataclass
class HistoryEntry:
    """One line of the history: an import or an export, and who started it."""

    kind: str
    item: Any
    who: str | None


@dataclass
class HistoryPage:
    """One page of the history: its entries, and the page (number, count, total) they are."""

    entries: list[HistoryEntry]
    page: Pagination


def _import_ids(tenant_id: uuid.UUID, status: str) -> Select[Any]:
    stmt = owned(ImportJob, tenant_id, ImportJob.id, ImportJob.created_at).where(
        ImportJob.status != ImportStatus.DRAFT
    )
    return stmt.where(ImportJob.status == status) if status else stmt


def _export_ids(tenant_id: uuid.UUID, status: str, now: datetime) -> Select[Any]:
    stmt = owned(ExportJob, tenant_id, ExportJob.id, ExportJob.created_at)
    if status == ExportStatus.EXPIRED:
        return stmt.where(or_(ExportJob.status == status, ExportJob.expires_at <= now))
    if status == ExportStatus.COMPLETED:
        not_expired = or_(ExportJob.expires_at.is_(None), ExportJob.expires_at > now)
        return stmt.where(and_(ExportJob.status == status, not_expired))
    return stmt.where(ExportJob.status == status) if status else stmt


def history_page(
    tenant_id: uuid.UUID, kind: str, status: str, asked: int, per_page: int
) -> HistoryPage:
    """Page `asked` of the tenant's imports and exports (`kind`: "all", "imports" or "exports";
    `status` one state, "" for any), newest first; a page past the end gives the last page.

    A state only one kind of job has ("expired", "rolled_back") simply matches none of the
    other's rows. An export is "completed" only while its file can still be downloaded.
    """
    parts: list[Select[Any]] = []
    if kind in ("all", "imports"):
        parts.append(_import_ids(tenant_id, status))
    if kind in ("all", "exports"):
        parts.append(_export_ids(tenant_id, status, datetime.now(UTC)))
    # mypy 2.4 crashes on union_all's overloads
    rows = (cast(Any, union_all)(*parts) if len(parts) > 1 else parts[0]).subquery()
    # paginate yields one column: the ids (UUIDs, so an import's never equals an export's)
    ids = select(rows.c.id).order_by(rows.c.created_at.desc(), rows.c.id)
    page = page_within(ids, asked, per_page)
    return HistoryPage(_entries(tenant_id, page.items), page)


def _entries(tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> list[HistoryEntry]:
    imports = {
        j.id: j
        for j in db.session.scalars(owned(ImportJob, tenant_id).where(ImportJob.id.in_(ids)))
    }
    exports = {
        e.id: e
        for e in db.session.scalars(owned(ExportJob, tenant_id).where(ExportJob.id.in_(ids)))
    }
    creators = {j.created_by for j in [*imports.values(), *exports.values()] if j.created_by}
    users = {
        u.id: u.name or u.email
        for u in db.session.scalars(owned(User, tenant_id).where(User.id.in_(creators)))
    }
    entries = []
    for item_id in ids:
        item: ImportJob | ExportJob | None = imports.get(item_id)
        kind = "import"
        if item is None:
            item, kind = exports.get(item_id), "export"
        if item is not None:
            entries.append(HistoryEntry(kind, item, users.get(item.created_by)))
    return entries


# --- one import ----------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What one import's page shows beyond the row itself."""

    options: ImportOptions
    wizard_state: WizardState
    mapping: list[tuple[str, str | None]]
    """Each mapped column of the file, in the file's order, with the field it went to."""
    rules: list[tuple[str, str]]
    """Each field with a rule for existing contacts: its label and the rule's name."""
    created_tags: list[str]
    segment: Segment | None
    created: Sequence[Contact] = field(default_factory=list)
    created_total: int = 0
    creator: User | None = None


def import_report(job: ImportJob, tenant_id: uuid.UUID, contacts_listed: int) -> ImportReport:
    """What the import did and was told: mapping, rules, new labels, its segment, the first
    `contacts_listed` contacts it created (none once rolled back: those left are "kept")."""
    options = ImportOptions.from_dict(job.import_options or {})
    wizard_state = WizardState.of(job)
    custom = {f.key: f.label for f in db.session.scalars(owned(CustomField, tenant_id))}
    specs = job.field_mapping or options.field_mapping or {}
    # JSONB keeps keys in its own order: follow the file's column order when it is known.
    order = (job.import_options or {}).get("source_headers") or wizard_state.headers
    headers = [h for h in order if h in specs] + [h for h in specs if h not in order]
    mapping = []
    for header in headers:
        target = parse_target(specs[header])
        label: str | None = None
        if target.kind == "standard":
            label = STANDARD_FIELDS[str(target.key)]
        elif target.kind == "custom":
            label = custom.get(str(target.key), str(target.key))
        elif target.kind == "tags":
            label = "Tags"
        mapping.append((header, label))
    rules = [
        (STANDARD_FIELDS.get(name) or custom.get(name.removeprefix("custom:"), name), rule)
        for name, rule in options.field_rules.items()
    ]
    tag_ids = [uuid.UUID(t) for t in job.created_tag_ids or []]
    report = ImportReport(
        options=options,
        wizard_state=wizard_state,
        mapping=mapping,
        rules=rules,
        created_tags=[
            t.name for t in db.session.scalars(owned(Tag, tenant_id).where(Tag.id.in_(tag_ids)))
        ]
        if tag_ids
        else [],
        segment=db.session.scalar(owned(Segment, tenant_id).where(Segment.id == job.segment_id))
        if job.segment_id
        else None,
        creator=db.session.scalar(owned(User, tenant_id).where(User.id == job.created_by))
        if job.created_by
        else None,
    )
    if job.status != ImportStatus.ROLLED_BACK:
        created = owned(Contact, tenant_id).where(Contact.created_by_import_id == job.id)
        report.created_total = (
            db.session.scalar(select(func.count()).select_from(created.subquery())) or 0
        )
        report.created = db.session.scalars(
            created.order_by(Contact.email).limit(contacts_listed)
        ).all()
    return report


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
    if job.status in RUNNING:
        return "This import is still running: cancel it or wait until it ends, then roll it back."
    if job.status == ImportStatus.ROLLED_BACK or not job.can_rollback:
        return "This import has already been rolled back."
    if job.rollback_status in ROLLBACK_RUNNING:
        return "A rollback of this import is under way."
    return None


def kept_still_there(job: ImportJob, tenant_id: uuid.UUID) -> set[str]:
    """The ids (as text) of the contacts a rollback kept that still exist."""
    tally = RollbackTally.of(job)
    ids = []
    for contact in tally.kept_contacts if tally else []:
        try:
            ids.append(uuid.UUID(contact.contact_id))
        except ValueError:
            continue
    if not ids:
        return set()
    found = db.session.scalars(owned(Contact, tenant_id, Contact.id).where(Contact.id.in_(ids)))
    return {str(i) for i in found}
