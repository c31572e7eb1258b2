"""Export jobs: a file of contacts built in the background and kept for a while."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model
from app.models.jobs import ExportStatus, JobColumns, job_table_args
from app.models.types import JSONType, Timestamp, utcnow

EXPORT_TYPES = ("full", "filtered", "segment")
EXPORT_FORMATS = ("csv", "xlsx", "json", "ndjson")
EXPORT_STATUSES = tuple(ExportStatus)
FINISHED_EXPORT_STATUSES = (ExportStatus.COMPLETED, ExportStatus.FAILED, ExportStatus.EXPIRED)


class ExportJob(JobColumns, Model):
    """One export of a tenant's contacts to a file."""

    __tablename__ = "export_jobs"
    __table_args__ = job_table_args("export_jobs")

    export_type: Mapped[str | None] = mapped_column(String(50))
    filters: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    selected_fields: Mapped[list[str] | None] = mapped_column(JSONType)
    file_format: Mapped[str | None] = mapped_column(String(50))
    total_contacts: Mapped[int | None] = mapped_column(Integer)
    processed_contacts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    expires_at: Mapped[datetime | None] = mapped_column(Timestamp)

    # Added by migration 0003 for the export feature.
    export_options: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    upload_key: Mapped[str | None] = mapped_column(Text)
    """The key a run is uploading to; a restarted run deletes what it may have left there."""

    @property
    def is_finished(self) -> bool:
        """True once the export stopped for good: completed, failed or expired."""
        return self.status in FINISHED_EXPORT_STATUSES

    @property
    def percent(self) -> int:
        """Progress in whole percent (100 when finished)."""
        if self.is_finished:
            return 100
        if not self.total_contacts:
            return 0
        return min(99, int(self.processed_contacts * 100 / self.total_contacts))

    def is_expired(self, now: datetime | None = None) -> bool:
        """True when the file is gone or past its expiry time (even before the clean-up ran)."""
        if self.status == ExportStatus.EXPIRED:
            return True
        if self.status != ExportStatus.COMPLETED or self.expires_at is None:
            return False
        expires_at = self.expires_at
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        return expires_at <= (now or utcnow())

    def is_downloadable(self, now: datetime | None = None) -> bool:
        """True when the file is complete, stored and not expired."""
        return (
            self.status == ExportStatus.COMPLETED
            and bool(self.file_url)
            and not self.is_expired(now)
        )
