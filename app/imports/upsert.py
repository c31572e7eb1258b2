"""Duplicate handling and batched writes: plan what each row does, then write a batch at once.

`plan_batch` decides, over plain values, what every row of a batch does to which contact (the
exact rules of `skip`, `update` and `create` live here). `write_batch` applies a plan with a few
bulk statements: one insert of new contacts (an upsert that cannot create a second contact for
one email, whatever other imports run at the same time), one executemany of updates, bulk tag
and segment links, and the journal rows that make a rollback exact.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, func, select, text

from app.imports.bulk import delete_rows, insert_rows, one_of, update_rows
from app.imports.consent import INACTIVE_STATUSES, NON_SUBSCRIBED, UNSUBSCRIBED, next_status
from app.imports.validation import CleanRow
from app.models import Contact, ImportEvent, Tag, contact_tags, segment_contacts
from app.models.types import new_id, utcnow

STANDARD_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "phone",
    "consented_on",
    "unsubscribed_on",
    "subscription_status",
)
"""The contact columns an import writes, journals and a rollback restores."""
_DATE_FIELDS = ("consented_on", "unsubscribed_on")  # ISO strings in a state, dates in the table
_STATUS = "subscription_status"
CONTACT_COLUMNS = (
    Contact.id,
    Contact.email,
    Contact.email_normalized,
    Contact.first_name,
    Contact.last_name,
    Contact.company,
    Contact.phone,
    Contact.consented_on,
    Contact.unsubscribed_on,
    Contact.custom_fields,
    Contact.subscription_status,
    Contact.created_by_import_id,
    Contact.created_from_row,
)


class ConcurrentInsert(Exception):
    """Another import created one of this batch's contacts first: plan the batch again."""


@dataclass(frozen=True)
class ImportSettings:
    """The parts of the options the writer needs, with ids resolved."""

    tenant_id: uuid.UUID
    workspace_id: uuid.UUID | None
    job_id: uuid.UUID
    strategy: str
    blank_clears: bool = False
    field_rules: dict[str, str] = field(default_factory=dict)
    tags_mode: str = "add"
    tags_mapped: bool = False
    option_tags: tuple[str, ...] = ()
    segment_id: uuid.UUID | None = None
    new_contact_status: str = NON_SUBSCRIBED
    suppression_list: bool = False


@dataclass
class ContactChange:
    """What this batch does to one contact."""

    contact_id: uuid.UUID
    kind: str  # created | updated | unchanged | matched | skipped
    first_row: int
    last_row: int
    state: dict[str, Any]
    before: dict[str, Any] | None = None
    changed: set[str] = field(default_factory=set)
    tag_names: list[str] = field(default_factory=list)
    membership: bool = True  # gets the import's tags and segment
    repeat_only: bool = False  # only later rows of an email an earlier batch had touch it

    def __post_init__(self) -> None:
        # The row at which this batch first touched the contact: it orders the journal, while
        # `first_row` is the file's first row with this email (for "duplicate of row N").
        self.journal_row = self.last_row

    @property
    def is_new(self) -> bool:
        """True when the batch creates this contact."""
        return self.kind == "created"


@dataclass
class BatchPlan:
    """The decisions for one batch, and the counts they produce."""

    changes: list[ContactChange] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    unsubscribed_matches: int = 0
    skipped_duplicates: list[tuple[int, int]] = field(default_factory=list)  # (row, first row)
    repeats: list[tuple[int, int]] = field(default_factory=list)  # (row, first row), first few
    status_changes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (from, to)


def contact_state(row: Any) -> dict[str, Any]:
    """A contact row as a plain dict of the fields an import can change."""
    state = {name: getattr(row, name) for name in ("id", "email", "email_normalized")}
    for name in STANDARD_FIELDS:
        state[name] = getattr(row, name)
    for name in _DATE_FIELDS:
        if state[name] is not None:
            state[name] = state[name].isoformat()
    state["custom_fields"] = dict(row.custom_fields or {})
    state["created_by_import_id"] = row.created_by_import_id
    state["created_from_row"] = row.created_from_row
    return state


def stored_fields(state: dict[str, Any]) -> dict[str, Any]:
    """A state's standard fields as the table takes them (dates as dates)."""
    values = {name: state[name] for name in STANDARD_FIELDS}
    for name in _DATE_FIELDS:
        if isinstance(values[name], str):
            values[name] = date.fromisoformat(values[name])
    return values


def _incoming_status(row: CleanRow, settings: ImportSettings) -> str | None:
    """The status a row asks for: every row of a suppression list asks for unsubscribed."""
    return UNSUBSCRIBED if settings.suppression_list else row.fields.get(_STATUS)


def _field_value(state: dict[str, Any], name: str) -> Any:
    if name.startswith("custom:"):
        return state["custom_fields"].get(name[7:])
    return state[name]


def _set_field(state: dict[str, Any], name: str, value: Any) -> None:
    if name.startswith("custom:"):
        if value is None:
            state["custom_fields"].pop(name[7:], None)
        else:
            state["custom_fields"][name[7:]] = value
    else:
        state[name] = value


@cache
def _custom_name(key: str) -> str:
    return f"custom:{key}"


def _row_values(row: CleanRow) -> list[tuple[str, Any]]:
    values: list[tuple[str, Any]] = list(row.fields.items())
    if row.custom:
        values.extend((_custom_name(k), v) for k, v in row.custom.items())
    return values


def apply_row(change: ContactChange, row: CleanRow, settings: ImportSettings) -> bool:
    """Apply one row's values to a contact's state by the field rules; True when anything changed."""
    changed = False
    creating = change.is_new
    for name, value in _row_values(row):
        if name == _STATUS:
            continue
        blank = value is None or value == ""
        rule = settings.field_rules.get(name, "overwrite")
        current = _field_value(change.state, name)
        if not creating and rule == "never":
            continue
        if blank:
            if not settings.blank_clears or current is None or creating:
                continue
            new = None
        else:
            new = value
        if not creating and rule == "fill_empty" and current not in (None, ""):
            continue
        if new != current:
            _set_field(change.state, name, new)
            change.changed.add(name)
            changed = True
    incoming = _incoming_status(row, settings)
    # a status is never empty, so "fill only if empty" keeps it like "never"; a suppression
    # list unsubscribes whatever the rules say
    ruled_out = settings.field_rules.get(_STATUS) in ("never", "fill_empty")
    if incoming and (creating or settings.suppression_list or not ruled_out):
        status = next_status(change.state[_STATUS], incoming)
        if status != change.state[_STATUS]:
            change.state[_STATUS] = status
            change.changed.add(_STATUS)
            changed = True
    change.tag_names.extend(row.tags)
    change.last_row = row.row
    return changed


def _suppress(change: ContactChange) -> bool:
    """Unsubscribe a matched contact (suppression list); True when its status changed."""
    if change.state[_STATUS] == UNSUBSCRIBED:
        return False
    change.state[_STATUS] = UNSUBSCRIBED
    change.changed.add(_STATUS)
    return True


def _new_state(row: CleanRow, settings: ImportSettings) -> dict[str, Any]:
    state: dict[str, Any] = {
        "id": new_id(),
        "email": row.email,
        "email_normalized": row.email_normalized,
        "custom_fields": {},
    }
    for name in STANDARD_FIELDS:
        value = row.fields.get(name)
        state[name] = value if value not in ("", None) else None
    state[_STATUS] = _incoming_status(row, settings) or settings.new_contact_status
    for key, value in row.custom.items():
        if value is not None and value != "":
            state["custom_fields"][key] = value
    return state


REPEATS_KEPT = 5
"""Examples of repeated emails a plan keeps for the sentence that explains them."""


def _repeat(plan: BatchPlan, row: int, first_row: int) -> None:
    """A row whose email an earlier row of the file had: counted apart, the later row wins."""
    plan.counts["repeated"] += 1
    if len(plan.repeats) < REPEATS_KEPT:
        plan.repeats.append((row, first_row))


def plan_batch(
    rows: list[CleanRow],
    existing: dict[str, dict[str, Any]],
    earlier_rows: dict[uuid.UUID, int],
    settings: ImportSettings,
    seen_in_run: dict[str, int] | None = None,
) -> BatchPlan:
    """Decide what every row does.

    `existing` maps normalized emails to the tenant's contacts; `earlier_rows` maps contact ids to
    the first row of this import that already touched them (earlier batches, from the journal);
    `seen_in_run` does the same by email for a dry run, which writes nothing.
    """
    plan = BatchPlan()
    by_email: dict[str, ContactChange] = {}
    strategy = settings.strategy
    for row in rows:
        key = row.email_normalized
        change = by_email.get(key)
        first_row = change.first_row if change is not None else None
        if change is None:
            current = existing.get(key)
            if current is not None:
                first_row = earlier_rows.get(current["id"])
            if first_row is None and seen_in_run is not None:
                first_row = seen_in_run.get(key)  # a dry run writes no journal to ask
        if first_row is not None:  # the email appeared earlier in this file
            if strategy == "update" and change is not None and change.kind != "skipped":
                if apply_row(change, row, settings) and change.kind == "unchanged":
                    change.kind = "updated"  # the later row wins: its values are written
                _repeat(plan, row.row, first_row)
                continue
            if strategy == "update" and change is None and key in existing:
                current = existing[key]
                change = ContactChange(
                    current["id"],
                    "unchanged",
                    first_row,
                    row.row,
                    state={**current, "custom_fields": dict(current["custom_fields"])},
                    before=current,
                    repeat_only=True,
                )
                by_email[key] = change
                plan.changes.append(change)
                if apply_row(change, row, settings):
                    change.kind = "updated"
                _repeat(plan, row.row, first_row)
                continue
            if strategy == "update":  # dry run: the earlier row would have created it
                _repeat(plan, row.row, first_row)
                continue
            plan.counts["skipped"] += 1
            plan.skipped_duplicates.append((row.row, first_row))
            if change is None:
                by_email[key] = ContactChange(
                    existing[key]["id"] if key in existing else new_id(),
                    "skipped",
                    first_row,
                    row.row,
                    state={},
                    membership=False,
                )
            continue

        current = existing.get(key)
        if current is None:
            state = _new_state(row, settings)
            change = ContactChange(state["id"], "created", row.row, row.row, state=state)
            change.tag_names.extend(row.tags)
            by_email[key] = change
            plan.changes.append(change)
            plan.counts["created"] += 1
            continue

        if current["subscription_status"] in INACTIVE_STATUSES:
            plan.unsubscribed_matches += 1
        change = ContactChange(
            current["id"],
            "matched",
            row.row,
            row.row,
            state={**current, "custom_fields": dict(current["custom_fields"])},
            before=current,
        )
        by_email[key] = change
        if strategy in ("skip", "create"):
            if strategy == "skip":
                change.kind, change.membership = "skipped", False
            else:
                change.tag_names.extend(row.tags)
            if settings.suppression_list and _suppress(change):
                change.kind = "updated"  # a suppression list unsubscribes whatever the strategy
                plan.changes.append(change)
                plan.counts["updated"] += 1
                continue
            if strategy == "create":
                plan.changes.append(change)
            plan.counts["skipped"] += 1
            continue
        plan.changes.append(change)
        if apply_row(change, row, settings):
            change.kind = "updated"
            plan.counts["updated"] += 1
        else:
            change.kind = "unchanged"
            plan.counts["unchanged"] += 1
    for change in plan.changes:
        if change.repeat_only:
            continue  # its status change, if any, was counted with the email's first row
        if change.is_new:
            plan.status_changes[("new", change.state[_STATUS])] += 1
        elif _STATUS in change.changed and change.before is not None:
            plan.status_changes[(change.before[_STATUS], change.state[_STATUS])] += 1
    return plan


# --- reading -------------------------------------------------------------------------------


@contextmanager
def own_plan(conn: Connection) -> Iterator[None]:
    """Plan the statements inside for their own values (PostgreSQL), not a cached generic plan.

    psycopg prepares a statement run five times, and PostgreSQL may then keep a generic plan
    made while the tenant (or the import) was small, and never revisit it as the import grows
    the table: the lookup read every contact of the tenant for each batch (seen in the SIGKILL
    fault test). Only these lookups re-plan: doing it for every statement cost a third of the
    speed.
    """
    if conn.dialect.name != "postgresql":
        yield
        return
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
    yield  # on an error the transaction is rolled back, and the SET LOCAL with it
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = auto")


def fetch_existing(
    conn: Connection, tenant_id: uuid.UUID, emails: list[str], lock: bool = True
) -> dict[str, dict[str, Any]]:
    """The tenant's contacts with these normalized emails, locked for this transaction."""
    if not emails:
        return {}
    if conn.dialect.name == "postgresql":
        # One unique-index probe per email, whatever the statistics say. A plain `email =
        # ANY(...)` trusted statistics taken while the tenant was small, which lag behind an
        # import growing it: PostgreSQL read every contact of the tenant through the index's
        # tenant prefix and filtered (250,000 rows read for 1,000 found by row 300,000; a 1M
        # import ran at half its 200k speed, issue 12). The lateral subquery (kept apart from
        # the join by OFFSET 0) leaves the planner one way: a nested loop of key lookups.
        columns = ", ".join(c.name for c in CONTACT_COLUMNS)
        with own_plan(conn):
            rows = conn.execute(
                text(
                    "SELECT c.* FROM unnest(CAST(:emails AS varchar[])) AS k(email) "  # nosec B608 # our own column names; values bound
                    f"CROSS JOIN LATERAL (SELECT {columns} FROM contacts "
                    "WHERE tenant_id = :tenant AND email_normalized = k.email OFFSET 0) c "
                    f"ORDER BY c.id{' FOR UPDATE OF c' if lock else ''}"
                ),
                {"emails": emails, "tenant": tenant_id},
            ).all()
        return {r.email_normalized: contact_state(r) for r in rows}
    stmt = (
        select(*CONTACT_COLUMNS)
        .where(Contact.tenant_id == tenant_id, one_of(conn, Contact.email_normalized, emails))
        .order_by(Contact.id)
    )
    if lock:
        stmt = stmt.with_for_update()
    return {r.email_normalized: contact_state(r) for r in conn.execute(stmt)}


def fetch_earlier_rows(
    conn: Connection, job_id: uuid.UUID, existing: dict[str, dict[str, Any]]
) -> dict[uuid.UUID, int]:
    """For contacts this import already touched in earlier batches, the first row that did.

    A contact it created says so itself (`created_from_row`); one it changed has journal rows.
    """
    earlier: dict[uuid.UUID, int] = {}
    others: list[uuid.UUID] = []
    for state in existing.values():
        if state.get("created_by_import_id") == job_id and state.get("created_from_row"):
            earlier[state["id"]] = state["created_from_row"]
        else:
            others.append(state["id"])
    if not others:
        return earlier
    if conn.dialect.name == "postgresql":
        # one probe of the (contact, import) index per contact, as in `fetch_existing`
        with own_plan(conn):
            found = conn.execute(
                text(
                    "SELECT k.id, e.first FROM unnest(CAST(:ids AS uuid[])) AS k(id) "
                    "CROSS JOIN LATERAL (SELECT min(row_number) AS first FROM import_events "
                    "WHERE contact_id = k.id AND import_job_id = :job OFFSET 0) e "
                    "WHERE e.first IS NOT NULL"
                ),
                {"ids": others, "job": job_id},
            ).all()
    else:
        found = conn.execute(
            select(ImportEvent.contact_id, func.min(ImportEvent.row_number))
            .where(
                ImportEvent.import_job_id == job_id,
                one_of(conn, ImportEvent.contact_id, others),
            )
            .group_by(ImportEvent.contact_id)
        )
    earlier.update({cid: first for cid, first in found})
    return earlier


# --- writing -------------------------------------------------------------------------------


def _tag_ids(conn: Connection, tenant_id: uuid.UUID, names: list[str]) -> dict[str, uuid.UUID]:
    return dict(
        conn.execute(
            select(Tag.name_normalized, Tag.id).where(
                Tag.tenant_id == tenant_id, one_of(conn, Tag.name_normalized, names)
            )
        ).all()
    )


def ensure_tags(
    conn: Connection, tenant_id: uuid.UUID, names: list[str]
) -> tuple[dict[str, uuid.UUID], list[uuid.UUID]]:
    """Ids of the tenant's tags by lower-cased name, creating missing ones; also the new ids."""
    wanted: dict[str, str] = {}
    for name in names:
        wanted.setdefault(name.strip().lower()[:100], name.strip()[:100])
    wanted.pop("", None)
    if not wanted:
        return {}, []
    found = _tag_ids(conn, tenant_id, list(wanted))
    missing = [n for n in wanted if n not in found]
    if not missing:
        return found, []
    now = utcnow()
    created = insert_rows(
        conn,
        Tag.__table__,
        [
            {
                "id": new_id(),
                "tenant_id": tenant_id,
                "name": wanted[n],
                "name_normalized": n,
                "created_at": now,
            }
            for n in missing
        ],
        conflict=["tenant_id", "name_normalized"],
        returning="id",
    )
    return _tag_ids(conn, tenant_id, list(wanted)), created


@dataclass
class BatchWrite:
    """What a written batch created, for the job's own bookkeeping."""

    created_tag_ids: list[uuid.UUID]


def write_batch(
    conn: Connection, plan: BatchPlan, settings: ImportSettings, now: datetime | None = None
) -> BatchWrite:
    """Apply a plan in the caller's transaction: contacts, links and journal."""
    now = now or utcnow()
    creates = [c for c in plan.changes if c.is_new]
    updates = [c for c in plan.changes if c.kind == "updated"]

    if creates:
        rows = [
            {
                **{k: c.state[k] for k in ("id", "email", "email_normalized")},
                **stored_fields(c.state),
                "custom_fields": c.state["custom_fields"],
                "tenant_id": settings.tenant_id,
                "workspace_id": settings.workspace_id,
                "emails_opened": 0,
                "emails_clicked": 0,
                "created_at": now,
                "updated_at": now,
                "created_by_import_id": settings.job_id,
                "created_from_row": c.first_row,
            }
            for c in creates
        ]
        inserted = insert_rows(
            conn,
            Contact.__table__,
            rows,
            conflict=["tenant_id", "email_normalized"],
            returning="id",
        )
        if len(inserted) != len(creates):
            raise ConcurrentInsert()
    if updates:
        update_contacts(conn, {c.contact_id: c.state for c in updates}, now)

    members = [c for c in plan.changes if c.membership]
    tags_added, tags_removed, created_tags = _write_tags(conn, members, settings)
    segments_added = _write_segment(conn, members, settings)
    _write_journal(conn, plan.changes, settings, tags_added, tags_removed, segments_added, now)
    return BatchWrite(created_tag_ids=created_tags)


def update_contacts(
    conn: Connection, states: dict[uuid.UUID, dict[str, Any]], now: datetime
) -> None:
    """Write the standard and custom fields of many contacts in one statement."""
    update_rows(
        conn,
        Contact.__table__,
        "id",
        [
            {
                "id": contact_id,
                **stored_fields(state),
                "custom_fields": state["custom_fields"],
                "updated_at": now,
            }
            for contact_id, state in states.items()
        ],
    )


def _write_tags(
    conn: Connection, members: list[ContactChange], settings: ImportSettings
) -> tuple[dict[uuid.UUID, list[uuid.UUID]], dict[uuid.UUID, list[uuid.UUID]], list[uuid.UUID]]:
    names = list(settings.option_tags)
    for c in members:
        names.extend(c.tag_names)
    ids, created = ensure_tags(conn, settings.tenant_id, names)
    option_ids = {ids[n.strip().lower()[:100]] for n in settings.option_tags if n.strip()}
    replace = (
        settings.strategy == "update" and settings.tags_mode == "replace" and settings.tags_mapped
    )
    existing_ids = [c.contact_id for c in members if not c.is_new]
    current: dict[uuid.UUID, set[uuid.UUID]] = {}
    if existing_ids and (ids or replace):
        for cid, tid in conn.execute(
            select(contact_tags.c.contact_id, contact_tags.c.tag_id).where(
                one_of(conn, contact_tags.c.contact_id, existing_ids)
            )
        ):
            current.setdefault(cid, set()).add(tid)
    added: dict[uuid.UUID, list[uuid.UUID]] = {}
    removed: dict[uuid.UUID, list[uuid.UUID]] = {}
    for c in members:
        desired = option_ids | {ids[n.strip().lower()[:100]] for n in c.tag_names if n.strip()}
        have = current.get(c.contact_id, set())
        new = sorted(desired - have)
        if new:
            added[c.contact_id] = new
        if replace and not c.is_new:
            gone = sorted(have - desired)
            if gone:
                removed[c.contact_id] = gone
    insert_rows(
        conn,
        contact_tags,
        [{"contact_id": cid, "tag_id": tid} for cid, tids in added.items() for tid in tids],
    )
    delete_rows(
        conn,
        contact_tags,
        [{"contact_id": cid, "tag_id": tid} for cid, tids in removed.items() for tid in tids],
    )
    return added, removed, created


def _write_segment(
    conn: Connection, members: list[ContactChange], settings: ImportSettings
) -> set[uuid.UUID]:
    if settings.segment_id is None or not members:
        return set()
    existing_ids = [c.contact_id for c in members if not c.is_new]
    already: set[uuid.UUID] = set()
    if existing_ids:
        already = set(
            conn.execute(
                select(segment_contacts.c.contact_id).where(
                    segment_contacts.c.segment_id == settings.segment_id,
                    one_of(conn, segment_contacts.c.contact_id, existing_ids),
                )
            ).scalars()
        )
    new = [c.contact_id for c in members if c.contact_id not in already]
    insert_rows(
        conn,
        segment_contacts,
        [{"segment_id": settings.segment_id, "contact_id": cid} for cid in new],
    )
    return set(new)


def _json_value(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


def _field_snapshot(state: dict[str, Any], names: set[str]) -> dict[str, Any]:
    snap: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for name in sorted(names):
        if name.startswith("custom:"):
            custom[name[7:]] = state["custom_fields"].get(name[7:])
        else:
            snap[name] = state[name]
    if custom:
        snap["custom"] = custom
    return snap


def _write_journal(
    conn: Connection,
    changes: list[ContactChange],
    settings: ImportSettings,
    tags_added: dict[uuid.UUID, list[uuid.UUID]],
    tags_removed: dict[uuid.UUID, list[uuid.UUID]],
    segments_added: set[uuid.UUID],
    now: datetime,
) -> None:
    events = []
    segment = str(settings.segment_id) if settings.segment_id else None
    for c in changes:
        if c.is_new:  # the contact records its import (created_by_import_id): no journal row
            continue
        links: dict[str, Any] = {}
        if c.contact_id in tags_added:
            links["tags_added"] = [str(t) for t in tags_added[c.contact_id]]
        if c.contact_id in tags_removed:
            links["tags_removed"] = [str(t) for t in tags_removed[c.contact_id]]
        if c.contact_id in segments_added and segment:
            links["segments_added"] = [segment]
        if not c.changed and not links:
            continue
        previous = _field_snapshot(c.before or {}, c.changed) if c.changed else {}
        new_data = {**_field_snapshot(c.state, c.changed), **links}
        kind = (
            "updated"
            if c.changed
            else ("unchanged" if settings.strategy == "update" else "skipped")
        )
        events.append((kind, previous, new_data, c))
    if not events:
        return
    insert_rows(
        conn,
        ImportEvent.__table__,
        [
            {
                "id": new_id(),
                "import_job_id": settings.job_id,
                "contact_id": c.contact_id,
                "event_type": kind,
                "previous_data": prev,
                "new_data": new,
                "created_at": now,
                "row_number": c.journal_row,
            }
            for kind, prev, new, c in events
        ],
    )
