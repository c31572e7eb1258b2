"""Undo an import from its journal, newest row first, batch by batch and resumable.

A contact that changed after the import (by a person or a later import) is left as it is and
listed as kept, unless the rollback is forced.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, or_, select, update

from app.imports.bulk import delete_rows, insert_rows, one_of
from app.imports.upsert import (
    CONTACT_COLUMNS,
    STANDARD_FIELDS,
    contact_state,
    update_contacts,
)
from app.models import Contact, ImportEvent, contact_tags, segment_contacts
from app.models.types import utcnow

KEPT_LISTED = 1000


@dataclass
class RollbackTally:
    """Running totals of a rollback."""

    deleted: int = 0
    restored: int = 0
    unlinked: int = 0
    kept: int = 0
    gone: int = 0
    kept_contacts: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON shape stored on the job."""
        return {
            "deleted": self.deleted,
            "restored": self.restored,
            "unlinked": self.unlinked,
            "kept": self.kept,
            "gone": self.gone,
            "keptContacts": self.kept_contacts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RollbackTally:
        """Resume from what an earlier (killed) run stored."""
        data = data or {}
        return cls(
            deleted=data.get("deleted", 0),
            restored=data.get("restored", 0),
            unlinked=data.get("unlinked", 0),
            kept=data.get("kept", 0),
            gone=data.get("gone", 0),
            kept_contacts=list(data.get("keptContacts", [])),
        )


def changed_since(state: dict[str, Any], data: dict[str, Any]) -> bool:
    """True when the contact no longer holds the values the import wrote."""
    for name in STANDARD_FIELDS:
        if name in data and state[name] != data[name]:
            return True
    custom = state["custom_fields"] or {}
    return any(custom.get(k) != v for k, v in (data.get("custom") or {}).items())


def _uuids(values: list[str] | None) -> list[uuid.UUID]:
    return [uuid.UUID(v) for v in values or []]


def _keep(tally: RollbackTally, state: dict[str, Any], reason: str) -> None:
    tally.kept += 1
    if len(tally.kept_contacts) < KEPT_LISTED:
        tally.kept_contacts.append(
            {"contactId": str(state["id"]), "email": state["email"], "reason": reason}
        )


def revert_batch(
    conn: Connection,
    job_id: uuid.UUID,
    tally: RollbackTally,
    force: bool,
    limit: int,
    now: datetime | None = None,
    below: int | None = None,
) -> tuple[int, int | None]:
    """Revert up to `limit` journal events of a job in the caller's transaction.

    Returns how many, and the lowest row number reverted: passed back as `below`, it lets the
    next batch start there in the (job, row) index instead of stepping over every event already
    reverted (which made a long rollback quadratic).
    """
    now = now or utcnow()
    query = (
        select(
            ImportEvent.id,
            ImportEvent.contact_id,
            ImportEvent.event_type,
            ImportEvent.previous_data,
            ImportEvent.new_data,
            ImportEvent.row_number,
        )
        .where(ImportEvent.import_job_id == job_id, ImportEvent.reverted_at.is_(None))
        .order_by(ImportEvent.row_number.desc(), ImportEvent.created_at.desc(), ImportEvent.id)
        .limit(limit)
    )
    if below is not None:
        query = query.where(or_(ImportEvent.row_number <= below, ImportEvent.row_number.is_(None)))
    events = conn.execute(query).all()
    if not events:
        return 0, below
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
    to_delete: list[uuid.UUID] = []
    restores: dict[uuid.UUID, dict[str, Any]] = {}
    tag_unlinks: list[dict[str, uuid.UUID]] = []
    tag_relinks: list[dict[str, uuid.UUID]] = []
    segment_unlinks: list[dict[str, uuid.UUID]] = []
    deleted: set[uuid.UUID] = set()
    for ev in events:
        state = contacts.get(ev.contact_id)
        if state is None or ev.contact_id in deleted:
            tally.gone += 1
            continue
        new = ev.new_data or {}
        if ev.event_type == "created":
            if not force and changed_since(state, new):
                _keep(tally, state, "changed since the import, kept")
                continue
            to_delete.append(ev.contact_id)
            deleted.add(ev.contact_id)
            tally.deleted += 1
            continue
        previous = ev.previous_data or {}
        if previous:
            if not force and changed_since(state, new):
                _keep(tally, state, "changed since the import, kept")
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

    contacts_table = Contact.__table__
    if to_delete:
        conn.execute(delete(contacts_table).where(one_of(conn, contacts_table.c.id, to_delete)))
    if restores:
        update_contacts(conn, restores, now)
    delete_rows(conn, contact_tags, tag_unlinks)
    insert_rows(conn, contact_tags, tag_relinks, conflict=["contact_id", "tag_id"])
    delete_rows(conn, segment_contacts, segment_unlinks)
    events_table = ImportEvent.__table__
    conn.execute(
        update(events_table)
        .where(one_of(conn, events_table.c.id, [e.id for e in events]))
        .values(reverted_at=now)
    )
    return len(events), events[-1].row_number
