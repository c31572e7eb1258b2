"""Undo an import, batch by batch and resumable: its journal newest row first, then its contacts.

The journal holds what the import changed on contacts that existed before it (previous and new
values, links); `revert_batch` restores them. The contacts it created carry its id
(`created_by_import_id`); `delete_created` deletes them with their links. A contact that
changed after the import (by a person or a later import) is left as it is and listed as kept,
unless the rollback is forced.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    delete,
    func,
    select,
)

from app.imports.batch_write import update_contacts
from app.imports.bulk import delete_rows, insert_rows, one_of
from app.imports.rollback_sql import delete_created_in_sql, next_events, revert_in_sql
from app.imports.rollback_tally import RollbackStep, RollbackTally, keep
from app.imports.upsert import CONTACT_COLUMNS, STANDARD_FIELDS, contact_state
from app.models import Contact, ImportEvent, contact_tags, segment_contacts
from app.models.types import utcnow


def changed_since(state: dict[str, Any], data: dict[str, Any]) -> bool:
    """True when the contact no longer holds the values the import wrote."""
    for name in STANDARD_FIELDS:
        if name in data and state[name] != data[name]:
            return True
    custom = state["custom_fields"] or {}
    return any(custom.get(k) != v for k, v in (data.get("custom") or {}).items())


def _uuids(values: list[str] | None) -> list[uuid.UUID]:
    return [uuid.UUID(v) for v in values or []]


def revert_batch(
    conn: Connection, step: RollbackStep, tally: RollbackTally, now: datetime | None = None
) -> int | None:
    """Revert the slice's rows among the next `limit` × `part.of` journal rows of a job, newest
    first, in the caller's transaction.

    Returns how many it reverted (0 when none of them was the slice's), None when no row was
    left. Where it stopped is `tally.journal_before`, committed with the batch: no journal row
    is marked (that rewrote every row of the journal once more).
    """
    now = now or utcnow()
    if conn.dialect.name == "postgresql":
        count, last = revert_in_sql(conn, step, tally, now)
    else:
        count, last = _revert_in_python(conn, step, tally, now)
    if last is None:
        return None
    tally.journal_before = last
    return count


def _revert_in_python(
    conn: Connection, step: RollbackStep, tally: RollbackTally, now: datetime
) -> tuple[int, list[Any] | None]:
    """The SQLite way: read the rows and the contacts, decide here, write in bulk."""
    job_id, force, limit, part = step.job_id, step.force, step.limit, step.part
    events = conn.execute(
        next_events(
            job_id,
            tally,
            limit * part.of,
            ImportEvent.id,
            ImportEvent.contact_id,
            ImportEvent.previous_data,
            ImportEvent.new_data,
            ImportEvent.row_number,
        )
    ).all()
    if not events:
        return 0, None
    last = [events[-1].row_number, str(events[-1].id)]
    events = [e for e in events if part.has(e.contact_id)]
    ids = list({e.contact_id for e in events})
    contacts = {
        r.id: contact_state(r)
        for r in conn.execute(
            select(*CONTACT_COLUMNS)
            .where(one_of(conn, Contact.id, ids))
            .order_by(Contact.id)
            .with_for_update()
        )
    }
    restores: dict[uuid.UUID, dict[str, Any]] = {}
    tag_unlinks: list[dict[str, uuid.UUID]] = []
    tag_relinks: list[dict[str, uuid.UUID]] = []
    segment_unlinks: list[dict[str, uuid.UUID]] = []
    for ev in events:
        state = contacts.get(ev.contact_id)
        if state is None:
            tally.gone += 1
            continue
        if state["created_by_import_id"] == job_id:
            continue  # it created the contact too: `delete_created` decides for the whole
        new = ev.new_data or {}
        previous = ev.previous_data or {}
        if previous:
            if not force and changed_since(state, new):
                keep(tally, state, "changed since the import, kept")
                continue
            for name in STANDARD_FIELDS:
                if name in previous:
                    state[name] = previous[name]
            custom = dict(state["custom_fields"] or {})
            for key, value in (previous.get("custom") or {}).items():
                if value is None:
                    custom.pop(key, None)
                else:
                    custom[key] = value
            state["custom_fields"] = custom
            restores[ev.contact_id] = state
            tally.restored += 1
        elif new:
            tally.unlinked += 1
        tag_unlinks += [
            {"contact_id": ev.contact_id, "tag_id": t} for t in _uuids(new.get("tags_added"))
        ]
        tag_relinks += [
            {"contact_id": ev.contact_id, "tag_id": t} for t in _uuids(new.get("tags_removed"))
        ]
        segment_unlinks += [
            {"segment_id": s, "contact_id": ev.contact_id}
            for s in _uuids(new.get("segments_added"))
        ]

    if restores:
        update_contacts(conn, restores, now)
    delete_rows(conn, contact_tags, tag_unlinks)
    insert_rows(conn, contact_tags, tag_relinks, conflict=["contact_id", "tag_id"])
    delete_rows(conn, segment_contacts, segment_unlinks)
    return len(events), last


def delete_created(conn: Connection, step: RollbackStep, tally: RollbackTally) -> int | None:
    """Delete the slice's contacts among the next `limit` × `part.of` the import created, with
    their links; returns how many of the slice's it read, None when none was left.

    A contact is deleted when its last write was this import's: `updated_at` equals the time of
    the import's last write to it (its creation, or a later row of the file that updated it),
    which every other write moves. Others are kept and listed, unless forced. It goes in id
    order from `tally.created_after`, so a kept contact is read once. No foreign key deletes
    the links (migration 0011): they are deleted in the same transaction, after their contacts,
    whose row locks keep any import from linking them meanwhile.
    """
    job_id, force, limit, part = step.job_id, step.force, step.limit, step.part
    if conn.dialect.name == "postgresql":
        return delete_created_in_sql(conn, step, tally)
    last_write = (
        select(func.max(ImportEvent.created_at))
        .where(ImportEvent.import_job_id == job_id, ImportEvent.contact_id == Contact.id)
        .scalar_subquery()
    )
    query = (
        select(
            Contact.id,
            Contact.email,
            Contact.created_at,
            Contact.updated_at,
            last_write.label("last_write"),
        )
        .where(Contact.created_by_import_id == job_id)
        .order_by(Contact.id)
        .limit(limit * part.of)
        .with_for_update(of=Contact)
    )
    if tally.created_after:
        query = query.where(Contact.id > uuid.UUID(tally.created_after))
    rows = conn.execute(query).all()
    if not rows:
        return None
    tally.created_after = str(rows[-1].id)
    rows = [row for row in rows if part.has(row.id)]
    doomed: list[uuid.UUID] = []
    for row in rows:
        if force or row.updated_at == (row.last_write or row.created_at):
            doomed.append(row.id)
        else:
            keep(tally, {"id": row.id, "email": row.email}, "changed since the import, kept")
    if doomed:
        conn.execute(delete(Contact.__table__).where(one_of(conn, Contact.__table__.c.id, doomed)))
        conn.execute(delete(contact_tags).where(one_of(conn, contact_tags.c.contact_id, doomed)))
        conn.execute(
            delete(segment_contacts).where(one_of(conn, segment_contacts.c.contact_id, doomed))
        )
    tally.deleted += len(doomed)
    return len(rows)
