"""Which contacts an export holds: its scope and filters, turned into one tenant-scoped SELECT."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from app.exports.fields import CUSTOM_PREFIX, custom_value_text
from app.extensions import db
from app.models import SUBSCRIPTION_STATUSES, Contact, Segment, Tag, contact_tags, segment_contacts
from app.search import contains
from app.tenancy import owned

CONDITION_OPERATORS = {
    "equals": "equals",
    "contains": "contains",
    "empty": "is empty",
    "not_empty": "is not empty",
}
CONDITION_FIELDS = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "company": "Company",
    "phone": "Phone",
}
TAG_MODES = {"any": "any of", "all": "all of"}


class ExportQueryError(ValueError):
    """The scope or filters cannot be used (a segment that is gone); the message says why."""


@dataclass
class FieldCondition:
    """`field` (`company`, `custom:zip`) equals / contains / is empty / is not empty `value`."""

    field: str
    op: str
    value: str = ""


@dataclass
class ExportFilters:
    """What narrows an export down; dates are ISO strings, stored as JSON on the job."""

    segment_id: str | None = None
    tags: list[str] = field(default_factory=list)
    tags_mode: str = "any"
    created_from: str | None = None
    created_to: str | None = None
    updated_from: str | None = None
    updated_to: str | None = None
    statuses: list[str] = field(default_factory=list)
    conditions: list[FieldCondition] = field(default_factory=list)
    min_opened: int | None = None
    min_clicked: int | None = None
    engaged_since: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict without the empty filters."""
        data = {k: v for k, v in asdict(self).items() if v not in (None, [], "")}
        if not self.tags:
            data.pop("tags_mode", None)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ExportFilters:
        """Build from a stored dict, ignoring keys this version does not know."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        conditions = [FieldCondition(**c) for c in data.pop("conditions", []) or []]
        return cls(conditions=conditions, **{k: v for k, v in data.items() if k in known})

    def without_scope(self) -> ExportFilters:
        """The same filters with no segment."""
        return ExportFilters.from_dict({**self.to_dict(), "segment_id": None})


def _day_start(text: str) -> datetime:
    return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)


def _between(column: Any, start: str | None, end: str | None) -> list[ColumnElement[bool]]:
    """`start <= column < the day after end`: both dates are whole days (UTC), inclusive."""
    clauses = []
    if start:
        clauses.append(column >= _day_start(start))
    if end and date.fromisoformat(end) < date.max:  # the last day there is bounds nothing
        clauses.append(column < _day_start(end) + timedelta(days=1))
    return clauses


def _condition(condition: FieldCondition, dialect: str) -> ColumnElement[bool]:
    """One field condition as SQL (text comparisons ignore case)."""
    if condition.field.startswith(CUSTOM_PREFIX):
        column: Any = custom_value_text(condition.field.removeprefix(CUSTOM_PREFIX), dialect)
    elif condition.field in CONDITION_FIELDS:
        column = getattr(Contact, condition.field)
    else:
        raise ExportQueryError(f"Contacts cannot be filtered by {condition.field!r}.")
    value = condition.value.strip()
    if condition.op == "empty":
        return or_(column.is_(None), column == "")
    if condition.op == "not_empty":
        return and_(column.is_not(None), column != "")
    if condition.op == "equals":
        if condition.field == "email":
            return Contact.email_normalized == value.lower()
        return func.lower(column) == value.lower()
    if condition.op == "contains":
        return contains(func.lower(column), value)
    raise ExportQueryError(f"Unknown filter {condition.op!r}: use equals, contains or is empty.")


def _tag_clause(tenant_id: uuid.UUID, names: Sequence[str], mode: str) -> ColumnElement[bool]:
    wanted = sorted({n.strip().lower() for n in names if n.strip()})
    tag_ids = db.session.scalars(
        owned(Tag, tenant_id, Tag.id).where(Tag.name_normalized.in_(wanted))
    ).all()
    if not tag_ids or (mode == "all" and len(tag_ids) < len(wanted)):
        return Contact.id.is_(None)  # a tag nobody has: no contact matches
    links = select(contact_tags.c.contact_id).where(contact_tags.c.tag_id.in_(tag_ids))
    if mode == "all":
        links = links.group_by(contact_tags.c.contact_id).having(
            func.count(contact_tags.c.tag_id) == len(tag_ids)
        )
    return Contact.id.in_(links)


def segment_of(tenant_id: uuid.UUID, filters: ExportFilters) -> Segment:
    """The export's segment, of the tenant; ExportQueryError when it is gone."""
    try:
        key = uuid.UUID(str(filters.segment_id))
    except ValueError:
        key = None
    segment: Segment | None = (
        db.session.scalar(owned(Segment, tenant_id).where(Segment.id == key)) if key else None
    )
    if segment is None:
        raise ExportQueryError("The segment chosen for this export no longer exists.")
    return segment


def filter_clauses(
    tenant_id: uuid.UUID, export_type: str, filters: ExportFilters, dialect: str
) -> list[ColumnElement[bool]]:
    """The WHERE clauses of an export besides the tenant's own (which `owned()` adds); the
    tenant names the tags and the segment."""
    if export_type == "full":
        return []
    clauses: list[ColumnElement[bool]] = []
    if export_type == "segment":
        segment = segment_of(tenant_id, filters)
        clauses.append(
            Contact.id.in_(
                select(segment_contacts.c.contact_id).where(
                    segment_contacts.c.segment_id == segment.id
                )
            )
        )
    if filters.tags:
        clauses.append(_tag_clause(tenant_id, filters.tags, filters.tags_mode))
    clauses += _between(Contact.created_at, filters.created_from, filters.created_to)
    clauses += _between(Contact.updated_at, filters.updated_from, filters.updated_to)
    statuses = [s for s in filters.statuses if s in SUBSCRIPTION_STATUSES]
    if statuses and set(statuses) != set(SUBSCRIPTION_STATUSES):
        clauses.append(Contact.subscription_status.in_(statuses))
    clauses += [_condition(c, dialect) for c in filters.conditions]
    if filters.min_opened:
        clauses.append(Contact.emails_opened >= filters.min_opened)
    if filters.min_clicked:
        clauses.append(Contact.emails_clicked >= filters.min_clicked)
    if filters.engaged_since:
        clauses.append(Contact.last_engaged_at >= _day_start(filters.engaged_since))
    return clauses


def _dialect() -> str:
    return db.engine.dialect.name


def contacts_select(
    tenant_id: uuid.UUID,
    export_type: str,
    filters: ExportFilters,
    columns: Sequence[ColumnElement[Any]],
) -> Select[Any]:
    """The tenant's matching contacts as `columns`, oldest first."""
    return (
        owned(Contact, tenant_id, *columns)
        .where(*filter_clauses(tenant_id, export_type, filters, _dialect()))
        .order_by(Contact.created_at, Contact.id)
    )


def count_select(tenant_id: uuid.UUID, export_type: str, filters: ExportFilters) -> Select[Any]:
    """How many of the tenant's contacts the export would hold, as a SELECT."""
    return owned(Contact, tenant_id, func.count(Contact.id)).where(
        *filter_clauses(tenant_id, export_type, filters, _dialect())
    )
