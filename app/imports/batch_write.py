"""Write a planned batch: contacts (new and changed), tag and segment links, the journal.

`write_batch` applies what `app.imports.upsert.plan_batch` decided with a few bulk statements:
one insert of new contacts (an upsert that cannot create a second contact for one email,
whatever other imports run at the same time), one update of the changed ones, bulk links, and
the journal rows that make a rollback exact.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from app.imports.bulk import delete_rows, insert_rows, one_of, update_rows
from app.imports.upsert import (
    BatchPlan,
    ConcurrentInsert,
    ContactChange,
    ImportSettings,
    stored_fields,
)
from app.models import Contact, ImportEvent, Tag, contact_tags, segment_contacts
from app.models.types import new_id, utcnow


def _tag_ids(conn: Connection, tenant_id: uuid.UUID, names: list[str]) -> dict[str, uuid.UUID]:
    """The tags with these names, locked against deletion until the caller commits."""
    return dict(
        conn.execute(
            select(Tag.name_normalized, Tag.id)
            .where(Tag.tenant_id == tenant_id, one_of(conn, Tag.name_normalized, names))
            .order_by(Tag.id)
            .with_for_update(key_share=True)
        ).all()
    )


def ensure_tags(
    conn: Connection, tenant_id: uuid.UUID, names: list[str]
) -> tuple[dict[str, uuid.UUID], list[uuid.UUID]]:
    """Ids of the tenant's tags by lower-cased name, creating missing ones; also the new ids.

    The links have no foreign key to tags (migration 0013), so the tags are locked here (FOR
    KEY SHARE) until the batch commits: a rollback deleting an unused tag waits for the batch,
    then sees its links (`rollback_job.delete_unused_tags`). A tag it deleted meanwhile is
    created again.
    """
    wanted: dict[str, str] = {}
    for name in names:
        wanted.setdefault(name.strip().lower()[:100], name.strip()[:100])
    wanted.pop("", None)
    if not wanted:
        return {}, []
    created: list[uuid.UUID] = []
    for _attempt in range(3):
        found = _tag_ids(conn, tenant_id, list(wanted))
        missing = [n for n in wanted if n not in found]
        if not missing:
            return found, created
        now = utcnow()
        created += insert_rows(
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
    raise ConcurrentInsert()  # the tags keep vanishing: plan the batch again


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
