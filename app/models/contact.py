"""Contacts and what describes them: custom fields, tags and segments."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model, db
from app.models.tenancy import TenantOwned
from app.models.types import JSONType, Timestamp, UUIDType, new_id, utcnow

SUBSCRIPTION_STATUSES = ("subscribed", "non_subscribed", "unsubscribed", "bounced")
STATUS_LABELS = {
    "subscribed": "Subscribed",
    "non_subscribed": "Non-subscribed",
    "unsubscribed": "Unsubscribed",
    "bounced": "Bounced (cleaned)",
}
CUSTOM_FIELD_TYPES = ("text", "number", "date", "boolean")

# The link tables' contact_id has no foreign key (migration 0011): the check fired a trigger
# with a row lock on the contact for every link an import wrote, about a third of the
# database's work per imported row (issue 12). Contacts are deleted in one place, a rollback
# (`app/imports/rollback.py`), which deletes their links first under the contacts' row locks;
# `tests/imports/test_links.py` proves no path leaves an orphan link.
contact_tags = Table(
    "contact_tags",
    db.metadata,
    Column("contact_id", UUIDType, primary_key=True),
    Column("tag_id", UUIDType, primary_key=True),  # no foreign key either (migration 0013)
    Index("ix_contact_tags_tag_id", "tag_id"),
)

segment_contacts = Table(
    "segment_contacts",
    db.metadata,
    Column("segment_id", UUIDType, ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True),
    Column("contact_id", UUIDType, primary_key=True),
    Index("ix_segment_contacts_contact_id", "contact_id"),
)


class Contact(Model):
    """A person a tenant can email; unique per tenant by normalized email.

    `email` holds the normalized address too (lower case, as the import preview shows it):
    one spelling per contact, whatever file brought it in (migration 0007 aligned older rows).
    """

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email_normalized", name="uq_contacts_tenant_email"),
        Index("ix_contacts_tenant_created", "tenant_id", "created_at"),
        Index("ix_contacts_tenant_updated", "tenant_id", "updated_at"),
        Index(  # only a rollback reads it, for one import: no entry for other contacts
            "ix_contacts_created_by_import",
            "created_by_import_id",
            "id",
            postgresql_where=text("created_by_import_id IS NOT NULL"),
            sqlite_where=text("created_by_import_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUIDType, primary_key=True, default=new_id)
    # No foreign keys (migration 0018): their checks were a trigger and a lock on the tenant's
    # row per inserted contact. Tenants and workspaces are never deleted, and an import takes
    # both from its job, whose own keys check them (`tests/imports/test_links.py`).
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUIDType)
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(UUIDType)
    email: Mapped[str] = mapped_column(String(320))
    email_normalized: Mapped[str] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    company: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(50))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    subscription_status: Mapped[str] = mapped_column(String(20), default="subscribed")
    consented_on: Mapped[date | None] = mapped_column(Date)  # when they gave permission
    unsubscribed_on: Mapped[date | None] = mapped_column(Date)
    emails_opened: Mapped[int] = mapped_column(Integer, default=0)
    emails_clicked: Mapped[int] = mapped_column(Integer, default=0)
    last_engaged_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)
    # The import that created the contact and the file's row that did (migration 0011): the
    # journal of that import holds no row for it, its rollback finds it here. No foreign key:
    # the contact outlives the import's record only if the rollback kept it.
    created_by_import_id: Mapped[uuid.UUID | None] = mapped_column(UUIDType)
    created_from_row: Mapped[int | None] = mapped_column(Integer)

    tags: Mapped[list[Tag]] = relationship(
        secondary=contact_tags,
        primaryjoin=lambda: Contact.id == contact_tags.c.contact_id,
        secondaryjoin=lambda: Tag.id == contact_tags.c.tag_id,
        order_by="Tag.name",
    )
    segments: Mapped[list[Segment]] = relationship(
        secondary=segment_contacts,
        primaryjoin=lambda: Contact.id == segment_contacts.c.contact_id,
        secondaryjoin=lambda: Segment.id == segment_contacts.c.segment_id,
        back_populates="contacts",
        order_by="Segment.name",
    )

    @property
    def display_name(self) -> str:
        """First and last name, or the email when there is no name."""
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        return name or self.email


class CustomField(TenantOwned, Model):
    """A tenant's own contact field with a declared type."""

    __tablename__ = "custom_fields"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    field_type: Mapped[str] = mapped_column(String(20), default="text")


class Tag(TenantOwned, Model):
    """A label on contacts, unique per tenant regardless of case."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("tenant_id", "name_normalized"),)

    name: Mapped[str] = mapped_column(String(100))
    name_normalized: Mapped[str] = mapped_column(String(100))


class Segment(TenantOwned, Model):
    """A named list of contacts."""

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))

    contacts: Mapped[list[Contact]] = relationship(
        secondary=segment_contacts,
        primaryjoin=lambda: Segment.id == segment_contacts.c.segment_id,
        secondaryjoin=lambda: Contact.id == segment_contacts.c.contact_id,
        back_populates="segments",
    )
