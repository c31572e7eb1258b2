"""What every background job's row has in common, and the states each kind of job goes through.

The statuses are `StrEnum`s: stored as the same text as before (no migration), equal to their
text (so `job.status == "completed"` and templates keep working), and named where code compares
them, so a misspelt state fails at import instead of never matching.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.types import Timestamp, UUIDType, new_id, utcnow


class ImportStatus(StrEnum):
    """An import's life: a draft in the wizard, queued, running, then ended or undone."""

    DRAFT = "draft"
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ROLLED_BACK = "rolled_back"


class RunStatus(StrEnum):
    """A rollback's or a dry run's life, kept beside its import's own status."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class ExportStatus(StrEnum):
    """An export's life: queued, running, ended, and its file expired after a while."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"


class JobColumns:
    """The columns an import's and an export's row share: whose it is, its file, its state,
    when it ran, the RQ job running it and the API's idempotency key."""

    id: Mapped[uuid.UUID] = mapped_column(UUIDType, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"))
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    file_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(50), default="pending")
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    completed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(
        Timestamp, default=utcnow, server_default=func.now()
    )
    failure_message: Mapped[str | None] = mapped_column(Text)
    rq_job_id: Mapped[str | None] = mapped_column(String(64))
    # a retried API request with the same key gets the same job (migration 0004)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))


def job_table_args(table: str) -> tuple[Index, Index, UniqueConstraint]:
    """The indexes every job table has: `idx_<table>_tenant` and `idx_<table>_status`, and one
    job per tenant and idempotency key."""
    return (
        Index(f"idx_{table}_tenant", "tenant_id"),
        Index(f"idx_{table}_status", "status"),
        UniqueConstraint("tenant_id", "idempotency_key"),
    )
