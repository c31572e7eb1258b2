"""Export jobs: a file of contacts built in the background and kept for a while."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import JSONType, Timestamp, UUIDType, new_id, utcnow

EXPORT_TYPES = ("full", "filtered", "segment")
EXPORT_FORMATS = ("csv", "xlsx", "json")


class ExportJob(db.Model):
    """One export of a tenant's contacts to a file."""

    __tablename__ = "export_jobs"
    __table_args__ = (
        Index("idx_export_jobs_tenant", "tenant_id"),
        Index("idx_export_jobs_status", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUIDType, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"))
    export_type: Mapped[str | None] = mapped_column(String(50))
    filters: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    selected_fields: Mapped[list[str] | None] = mapped_column(JSONType)
    file_format: Mapped[str | None] = mapped_column(String(50))
    file_url: Mapped[str | None] = mapped_column(Text)
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str | None] = mapped_column(String(50), default="pending")
    total_contacts: Mapped[int | None] = mapped_column(Integer)
    processed_contacts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    completed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    expires_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(
        Timestamp, default=utcnow, server_default=func.now()
    )
