"""Import jobs and their journal, which is what makes a rollback exact."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    false,
    func,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model
from app.models.jobs import ImportStatus, JobColumns, RunStatus, job_table_args
from app.models.types import JSONType, Timestamp, UUIDType, new_id, utcnow

IMPORT_STATUSES = tuple(ImportStatus)
FINISHED_STATUSES = (ImportStatus.COMPLETED, ImportStatus.FAILED, ImportStatus.CANCELLED)
ROLLBACK_STATUSES = tuple(RunStatus)


class ImportJob(JobColumns, Model):
    """One file imported into one tenant: its options, progress and counts."""

    __tablename__ = "import_jobs"
    __table_args__ = (
        *job_table_args("import_jobs"),
        Index("idx_import_jobs_created", "created_at"),
    )

    workspace_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("workspaces.id"))
    file_type: Mapped[str | None] = mapped_column(String(50))
    # The JSON columns that can grow large (up to 1,000 errors, a dry run's report, the kept
    # contacts of a rollback) load only when read, all five in one query: the progress poll and
    # the history list, read by every user once a second while an import runs, never parse them.
    field_mapping: Mapped[dict[str, Any] | None] = mapped_column(
        JSONType, deferred=True, deferred_group="large"
    )
    import_options: Mapped[dict[str, Any] | None] = mapped_column(
        JSONType, deferred=True, deferred_group="large"
    )
    total_rows: Mapped[int | None] = mapped_column(Integer)
    imported_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    updated_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    skipped_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    error_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    errors: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSONType, deferred=True, deferred_group="large"
    )
    processed_rows: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    can_rollback: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    rolled_back_at: Mapped[datetime | None] = mapped_column(Timestamp)

    # Added by migration 0002 for the engine: resume, cancel, error report, rollback progress.
    unchanged_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    unsubscribed_matches: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # rows whose email an earlier row of the file had (the later row wins)
    repeated_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    checkpoint_row: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    heartbeat_at: Mapped[datetime | None] = mapped_column(Timestamp)
    error_report_key: Mapped[str | None] = mapped_column(Text)
    segment_id: Mapped[uuid.UUID | None] = mapped_column(UUIDType)
    created_segment: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_tag_ids: Mapped[list[str] | None] = mapped_column(JSONType)
    dry_run_status: Mapped[str | None] = mapped_column(String(20))
    dry_run: Mapped[dict[str, Any] | None] = mapped_column(
        JSONType, deferred=True, deferred_group="large"
    )
    rollback_status: Mapped[str | None] = mapped_column(String(20))
    rollback_force: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    rollback_total: Mapped[int | None] = mapped_column(Integer)
    rollback_processed: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    rollback_result: Mapped[dict[str, Any] | None] = mapped_column(
        JSONType, deferred=True, deferred_group="large"
    )

    # Added by migration 0016: rows corrected, and rows skipped, in the review before the start
    corrected_rows: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    review_skipped_rows: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Added by migration 0017: the import whose refused rows this one imports, corrected
    follow_up_of: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("import_jobs.id", ondelete="SET NULL"), index=True
    )

    @property
    def is_finished(self) -> bool:
        """True once the import stopped for good: completed, failed or cancelled."""
        return self.status in FINISHED_STATUSES

    @property
    def row_label(self) -> str:
        """The word this file's row numbers go with: "Row", "Line" (NDJSON) or "Record" (JSON).

        The engine stores it when it opens the file, the wizard when it reads a draft's file;
        imports from before it was stored numbered every source's rows as "Row".
        """
        options = self.import_options or {}
        return options.get("row_label") or (options.get("wizard") or {}).get("row_label") or "Row"

    @property
    def percent(self) -> int:
        """Progress in whole percent: where it stopped when cancelled, 100 when otherwise ended."""
        if self.status == ImportStatus.CANCELLED:
            if not self.total_rows:
                return 0
            return min(100, int(self.processed_rows * 100 / self.total_rows))
        if self.is_finished or self.status == ImportStatus.ROLLED_BACK:
            return 100
        if not self.total_rows:
            return 0
        return min(99, int(self.processed_rows * 100 / self.total_rows))


class ImportEvent(Model):
    """What one import did to one contact, with the values before and after.

    `contact_id` deliberately has no foreign key: a rollback deletes the contacts an import
    created, and the journal must keep its history (the id and the data) after the row is gone.
    """

    __tablename__ = "import_events"
    __table_args__ = (
        # by contact within one import (migration 0012: the contact alone made PostgreSQL
        # combine it with the import's whole (job, row) range on every batch)
        Index("ix_import_events_contact_job", "contact_id", "import_job_id"),
        # The key is the rollback's order, newest first (migration 0014: without the id
        # PostgreSQL sorted every row below the rollback's cursor for each batch). It was an
        # index beside a key on the id alone, which nothing reads: one index entry fewer per
        # journal row written (migration 0019).
        PrimaryKeyConstraint("import_job_id", "row_number", "id", name="pk_import_events"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUIDType, default=new_id)
    # no foreign key (migration 0013): only its own import writes a journal row, and only
    # drafts, which have none, are ever deleted
    import_job_id: Mapped[uuid.UUID] = mapped_column(UUIDType)
    contact_id: Mapped[uuid.UUID] = mapped_column(UUIDType)
    event_type: Mapped[str | None] = mapped_column(String(50))
    previous_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    new_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(
        Timestamp, default=utcnow, server_default=func.now()
    )
    row_number: Mapped[int] = mapped_column(Integer)
    reverted_at: Mapped[datetime | None] = mapped_column(Timestamp)


class ImportRowError(Model):
    """A row that did not go in, with the original cells so the error report can be rebuilt."""

    __tablename__ = "import_row_errors"
    __table_args__ = (Index("ix_import_row_errors_job_row", "import_job_id", "row_number"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    import_job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("import_jobs.id", ondelete="CASCADE")
    )
    row_number: Mapped[int] = mapped_column(Integer)
    column: Mapped[str | None] = mapped_column(String(255))
    value: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    raw: Mapped[list[str] | None] = mapped_column(JSONType)


class RefusedRow(Model):
    """A row the dry run found it would refuse (or that has corrections), for the review table.

    Written by each dry run of a draft (the previous run's rows are replaced); `cells` are the
    row's original cells, `problems` what is wrong with the row as corrected so far (empty once
    the corrections fix it), `problem_keys` the same problems as `|column\\x1fcode|` text that
    a filter matches with LIKE (a draft has at most a few tens of thousands of these rows).
    """

    __tablename__ = "import_refused_rows"

    import_job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    cells: Mapped[list[str]] = mapped_column(JSONType)
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    problem_keys: Mapped[str] = mapped_column(Text, default="", server_default="")
    # the problems the dry run found, kept when corrections fix the row: its filter still finds it
    found_keys: Mapped[str] = mapped_column(Text, default="", server_default="")
    # why the row could not be read at all (migration 0017): refused until its cells are corrected
    read_error: Mapped[str | None] = mapped_column(Text)


class Correction(Model):
    """A cell corrected in the browser (or a row skipped), applied as the import reads the row.

    The uploaded file is never changed: the import, its dry run and its error report apply these
    to the rows they read, by row number, so row numbers, the journal and rollback stay exact.
    `column_index` is the cell's position among the file's columns; SKIP_ROW marks a row the
    person chose not to import.
    """

    __tablename__ = "import_corrections"

    SKIP_ROW = -1

    import_job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    column_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
