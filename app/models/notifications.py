"""In-app notifications: what finished, shown on the dashboard and in the header."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model
from app.models.types import Timestamp, UUIDType, new_id, utcnow


class NotifiedObject(StrEnum):
    """What a notification is about; the web layer makes the link to its page."""

    IMPORT = "import"
    EXPORT = "export"


class Notification(Model):
    """A message for a tenant's users (or one user) about an import or an export.

    It stores what it is about (`object_kind`, `object_id`), never a URL: the pages are the
    web layer's, which builds the link when the notification is opened.
    """

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUIDType, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    object_kind: Mapped[str | None] = mapped_column(String(20))
    object_id: Mapped[uuid.UUID | None] = mapped_column(UUIDType)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(Timestamp)
