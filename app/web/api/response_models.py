"""What the API answers, as pydantic models: the OpenAPI document's response schemas come from them.

`responses.py` builds the answers; the API tests check every real answer against the document,
so an answer, its model and the document cannot drift apart. A model's docstring is its
description in the document, a field's `description` the field's.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from app.imports.batch_commit import ERRORS_KEPT_ON_JOB
from app.imports.suggestions import SUGGESTION_REASONS
from app.models import SUBSCRIPTION_STATUSES
from app.models.exports import EXPORT_FORMATS, EXPORT_STATUSES, EXPORT_TYPES
from app.models.imports import IMPORT_STATUSES, ROLLBACK_STATUSES
from app.web.api.schemas import Strategy, TagsMode

ImportStatus = Literal[IMPORT_STATUSES]  # type: ignore[valid-type]
RollbackStatus = Literal[ROLLBACK_STATUSES]  # type: ignore[valid-type]
ExportStatus = Literal[EXPORT_STATUSES]  # type: ignore[valid-type]
ExportFormat = Literal[EXPORT_FORMATS]  # type: ignore[valid-type]
ExportType = Literal[EXPORT_TYPES]  # type: ignore[valid-type]
SubscriptionStatus = Literal[SUBSCRIPTION_STATUSES]  # type: ignore[valid-type]
if TYPE_CHECKING:  # a Literal of a tuple's values, which only run time can read
    SuggestionReason = str
else:
    SuggestionReason = Literal[tuple(SUGGESTION_REASONS)]
FileType = Literal["csv", "xlsx", "json"]

Count = Annotated[int, Field(ge=0)]
Uri = Annotated[str, Field(json_schema_extra={"format": "uri"})]
TargetSpec = Annotated[
    str,
    Field(
        description="A fieldMapping target: email, first_name, last_name, company, phone, tags, "
        "ignore, custom:<key> for an existing custom field, or <key>:<type> for a custom field "
        "the import creates (type text, number, date or boolean)."
    ),
]


class ResponseModel(BaseModel):
    """camelCase on the wire; every field is in every answer, and no other."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class OpenResponseModel(ResponseModel):
    """An answer that may hold more than its listed fields, some of them only at times."""

    model_config = ConfigDict(extra="ignore")


# --- errors ----------------------------------------------------------------------------------


class ErrorDetail(OpenResponseModel):
    """A field at fault."""

    field: str
    message: str


class Error(OpenResponseModel):
    """Every error: one sentence, and the fields at fault when there are any."""

    error: str
    details: list[ErrorDetail]


# --- imports ---------------------------------------------------------------------------------


class RowError(OpenResponseModel):
    """A row that did not go in: its number as seen in the file, the column, the value and what
    to do. `row` is 1-based and counts what a person sees: in a CSV or Excel file the sheet row
    (the header is row 1); in an NDJSON file the line (blank lines count; the message says
    "Line N"); in a JSON array the record (the first record is 1; the message says "Record N")."""

    row: int | None
    column: str | None = None
    value: str | None = None
    message: str


class ImportCounts(ResponseModel):
    """The job and its counts so far."""

    job_id: uuid.UUID
    status: ImportStatus
    total_rows: Count | None
    imported: Count
    created: Count
    updated: Count
    skipped: Count
    repeated: Count


class ImportResult(ImportCounts):
    """The design's ImportResult: the job and its counts so far. `imported` = created + updated +
    unchanged + repeated; `repeated` counts rows whose email an earlier row of the file had (the
    later row wins)."""

    errors: list[RowError] = Field(
        max_length=ERRORS_KEPT_ON_JOB,
        description=f"The first {ERRORS_KEPT_ON_JOB:,} rows that did not go in.",
    )


class ImportOptionsUsed(ResponseModel):
    """The options the import runs with."""

    duplicate_strategy: Strategy
    tags: list[str]
    segment_name: str | None
    validate_email: bool
    validate_phone: bool
    default_phone_region: str | None
    sheet: str | None
    blank_clears: bool
    tags_mode: TagsMode
    field_rules: dict[str, str]
    new_contact_status: Literal["non_subscribed", "subscribed"]
    consent_confirmed: bool
    suppression_list: bool


class Rollback(ResponseModel):
    """The rollback's progress: contacts deleted, restored to their previous values, unlinked
    from the import's tags and segment, and kept because they changed since (unless forced)."""

    status: RollbackStatus
    force: bool
    total: Count | None
    processed: Count
    deleted: Count
    restored: Count
    unlinked: Count
    kept: Count
    error: str | None


class DryRun(OpenResponseModel):
    """What the import would do (dryRun): wouldCreate, wouldUpdate, wouldLeaveUnchanged,
    wouldSkip, errorRows, errors, fieldChanges, unsubscribedMatches, wouldRepeat and repeats (rows
    whose email an earlier row had: the later row wins, with the first examples as row and
    firstRow), statusChanges (how many contacts would get which subscription status: `from` is
    `new` for contacts the import would create), domainTypos; `error` when the file could not be
    read."""

    status: Literal["pending", "processing", "completed", "failed"]
    processed_rows: Count = 0
    would_create: Count = 0
    would_update: Count = 0
    would_leave_unchanged: Count = 0
    would_skip: Count = 0
    error_rows: Count = 0
    errors: list[RowError] = []
    error: str = ""


class ImportLinks(ResponseModel):
    """Where the import is."""

    self_: str = Field(alias="self")


class ImportDetails(ResponseModel):
    """What an import holds besides its counts and errors."""

    file_name: str | None
    file_type: FileType | None
    file_size: Count | None
    processed_rows: Count
    unchanged: Count
    error_count: Count
    error_report_url: Uri | None
    failure_message: str | None
    corrected_rows: Count = Field(
        description="Rows corrected in the browser or with POST .../corrections before it ran."
    )
    follow_up_of: uuid.UUID | None = Field(
        description="For a follow-up import: the import whose refused rows it imports."
    )
    follow_up: uuid.UUID | None = Field(
        description="The follow-up import of this import's refused rows, if one was made (a "
        "draft while they are being corrected)."
    )
    cancel_requested: bool
    created_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    can_rollback: bool
    rolled_back_at: datetime | None
    rollback: Rollback | None
    dry_run: DryRun | None
    field_mapping: dict[str, str]
    options: ImportOptionsUsed
    links: ImportLinks


class ImportJob(ImportDetails, ImportResult):
    """An import: status, progress, counts, the first errors, the error report (a link valid for
    5 minutes) and its rollback."""


class ImportSummary(ImportDetails, ImportCounts):
    """An import as listed in the history (the same as an import, without its errors)."""


class ImportPage(ResponseModel):
    """Imports, newest first. Pass `nextCursor` as `cursor` for the next page; null on the last
    one."""

    items: list[ImportSummary]
    next_cursor: str | None


class RowProblem(ResponseModel):
    """What is wrong with a cell, or with the row as a whole."""

    column: str | None
    message: str


class RefusedRow(ResponseModel):
    """A row the import refused (or the dry run would refuse), numbered as in the file."""

    row_number: int
    cells: dict[str, str] = Field(
        description="The row's cells by column header, as they would be imported now (a dry "
        "run's corrections applied)."
    )
    errors: list[RowProblem] = Field(
        description="What is wrong, by column (null: the row as a whole); empty once corrections "
        "fix the row or when it is skipped."
    )
    corrected: dict[str, str] = Field(description="The cells corrected so far, by column header.")
    skipped: bool


class RefusedRowPage(ResponseModel):
    """Refused rows in the order of the file. Pass `nextCursor` as `cursor` for the next page;
    null on the last one."""

    items: list[RefusedRow]
    next_cursor: str | None


class CorrectionsResult(ResponseModel):
    """Where the corrections are kept (the dry run itself, or the finished import's follow-up,
    which `followUpOf` names), how many rows are corrected, and each row sent, validated."""

    import_id: uuid.UUID
    follow_up_of: uuid.UUID | None
    corrected_rows: Count
    rows: list[RefusedRow]


# --- uploads ---------------------------------------------------------------------------------


class UploadDetected(ResponseModel):
    """What reading the top of the file found; an import of its fileUrl reads it the same way."""

    file_type: FileType
    encoding: str | None = Field(
        description="The text encoding (e.g. utf-8, cp1252); null for XLSX."
    )
    delimiter: str | None = Field(
        description="The column separator of a CSV/TSV file (e.g. `,` `;` or a tab); null for "
        "XLSX and JSON."
    )
    sheet: str | None = Field(
        description="The worksheet read: the first one with contacts; null but for XLSX."
    )
    sheets: list[str] = Field(
        description="Every worksheet of an XLSX file, in order (empty for other types). To import "
        "another one, pass options.sheet."
    )
    headers: list[str] = Field(description="The file's column names, in the file's order.")
    row_estimate: Count = Field(
        description="About how many contact rows the file has (exact under 1 MB)."
    )


class MappingSuggestion(ResponseModel):
    """The target suggested for one column and why."""

    header: str = Field(description="The column.")
    target: TargetSpec
    reason: SuggestionReason = Field(
        description="Why: "
        + "; ".join(f"`{name}`, {meaning}" for name, meaning in SUGGESTION_REASONS.items())
        + "."
    )
    detail: str = Field(
        description='The reason in a sentence, as the web wizard shows it, e.g. "Known '
        "spelling, German ('Vorname')\"."
    )


class Upload(ResponseModel):
    """A stored upload, what was detected in it and the suggested mapping; the type is read from
    the file (CSV/TSV, XLSX, JSON or NDJSON)."""

    file_url: str = Field(
        description="An opaque reference to the stored file, for POST /api/contacts/import."
    )
    file_name: str
    file_size: Count
    file_type: FileType
    detected: UploadDetected
    suggested_mapping: dict[str, TargetSpec] = Field(
        description="A target for every column (`ignore` where nothing fits or the column is "
        "empty), ready to send as the import's fieldMapping as it is or after changes. It is "
        "what the web wizard would suggest: the tenant's custom fields and the mappings of its "
        "last imports count. A file without an email column gets no email target, and an import "
        "with it is refused until one is mapped."
    )
    suggestions: list[MappingSuggestion] = Field(
        description="Why each column got its target, in the file's column order."
    )


class PresignedUpload(ResponseModel):
    """POST a multipart form to uploadUrl with every field of `fields`, then the file as the last
    part, named `file`; then import it with its fileUrl."""

    file_url: str
    file_name: str
    upload_url: Uri
    method: Literal["POST"]
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: Count


# --- exports ---------------------------------------------------------------------------------


class ExportLinks(ResponseModel):
    """Where the export and its file are."""

    self_: str = Field(alias="self")
    download: str


class ExportJob(ResponseModel):
    """An export: pending, processing, completed, failed, or expired once its file is deleted."""

    job_id: uuid.UUID
    status: ExportStatus
    format: ExportFormat | None
    export_type: ExportType | None
    filters: dict[str, Any]
    selected_fields: list[str]
    file_name: str | None
    file_size: Count | None
    total_contacts: Count | None
    processed_contacts: Count
    failure_message: str | None
    created_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    expires_at: datetime | None
    links: ExportLinks


class ExportAccepted(ResponseModel):
    """The export's id."""

    job_id: uuid.UUID


class ExportPage(ResponseModel):
    """Exports, newest first. Pass `nextCursor` as `cursor` for the next page; null on the last
    one."""

    items: list[ExportJob]
    next_cursor: str | None


class DownloadLink(ResponseModel):
    """A link to the export's file, valid for 5 minutes."""

    download_url: Uri
    file_name: str | None
    expires_at: datetime


# --- contacts and the token ------------------------------------------------------------------


class ContactSegment(ResponseModel):
    """A segment the contact is in."""

    id: uuid.UUID
    name: str


class Contact(ResponseModel):
    """A contact with its custom fields (by key), tags and segments."""

    id: uuid.UUID
    email: str
    first_name: str | None
    last_name: str | None
    company: str | None
    phone: str | None
    custom_fields: dict[str, Any]
    subscription_status: SubscriptionStatus
    consented_on: date | None
    unsubscribed_on: date | None
    tags: list[str]
    segments: list[ContactSegment]
    emails_opened: Count
    emails_clicked: Count
    last_engaged_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None


class ContactPage(ResponseModel):
    """Contacts, newest first. Pass `nextCursor` as `cursor` for the next page; null on the last
    one."""

    items: list[Contact]
    next_cursor: str | None


class TokenUser(ResponseModel):
    """The user a token acts as."""

    id: uuid.UUID
    email: str
    role: str


class TokenTenant(ResponseModel):
    """The tenant a token reads and writes."""

    id: uuid.UUID
    name: str
    contact_count: Count


class Me(ResponseModel):
    """The user a token acts as, and the tenant it reads and writes."""

    user: TokenUser
    tenant: TokenTenant


COMPONENTS: tuple[type[BaseModel], ...] = (
    Error,
    RowError,
    ImportResult,
    ImportJob,
    ImportSummary,
    ImportOptionsUsed,
    Rollback,
    DryRun,
    ImportPage,
    RefusedRow,
    RefusedRowPage,
    CorrectionsResult,
    ExportJob,
    ExportAccepted,
    ExportPage,
    DownloadLink,
    Contact,
    ContactPage,
    Upload,
    UploadDetected,
    MappingSuggestion,
    PresignedUpload,
    Me,
)
"""The answers named in the document's components, each under its class name; the models they
use but do not list (links, segments, a row's problems) are written into them."""
