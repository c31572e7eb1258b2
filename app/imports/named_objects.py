"""Custom fields and segments that an import creates by name, safe against a concurrent import.

Two imports into one tenant (or two people starting imports) may both declare the custom field
`zip` or the segment "Spring fair": whichever commits first creates it, the other uses it. A
plain INSERT would fail the second import with a unique-key error; these insert with ON
CONFLICT DO NOTHING and read back what is there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from app.imports.bulk import insert_rows
from app.imports.upsert import ConcurrentInsert
from app.models import CustomField, Segment
from app.models.types import new_id, utcnow


@dataclass(frozen=True)
class NewField:
    """A custom field an import declares: its key, label and type."""

    key: str
    label: str
    field_type: str


def create_custom_fields(
    conn: Connection, tenant_id: uuid.UUID, fields: list[NewField]
) -> dict[str, str]:
    """Create the fields the tenant lacks; the type of every named field as it now is.

    A field that exists (or that a concurrent import created meanwhile) keeps its own type.
    """
    if fields:
        now = utcnow()
        insert_rows(
            conn,
            CustomField.__table__,
            [
                {
                    "id": new_id(),
                    "tenant_id": tenant_id,
                    "key": f.key,
                    "label": f.label[:200],
                    "field_type": f.field_type,
                    "created_at": now,
                }
                for f in fields
            ],
            conflict=["tenant_id", "key"],
        )
    keys = [f.key for f in fields]
    return dict(
        conn.execute(
            select(CustomField.key, CustomField.field_type).where(
                CustomField.tenant_id == tenant_id, CustomField.key.in_(keys)
            )
        ).all()
    )


def ensure_segment(conn: Connection, tenant_id: uuid.UUID, name: str) -> tuple[uuid.UUID, bool]:
    """The tenant's segment of that name, created if missing; True when this call created it.

    Raises ConcurrentInsert (the batch machinery retries) if the segment keeps vanishing
    between the insert that met it and the read, as a concurrent rollback deleting it would.
    """
    for _attempt in range(3):
        created = insert_rows(
            conn,
            Segment.__table__,
            [{"id": new_id(), "tenant_id": tenant_id, "name": name, "created_at": utcnow()}],
            conflict=["tenant_id", "name"],
            returning="id",
        )
        if created:
            return created[0], True
        found = conn.scalar(
            select(Segment.id).where(Segment.tenant_id == tenant_id, Segment.name == name)
        )
        if found is not None:
            return found, False
    raise ConcurrentInsert()
