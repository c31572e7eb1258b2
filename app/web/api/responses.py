"""What the API answers: uploads, imports, exports and contacts in camelCase JSON.

The shapes are described by the models of `response_models.py`, from which the OpenAPI
document's schemas are generated; the API tests validate every answer against the document.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from flask import current_app, request, url_for

from app.imports.dry_run_result import DryRunResult, dry_run_fields
from app.imports.follow_up import follow_up_of
from app.imports.mapping import Suggestion, target_to_spec
from app.imports.options import ImportOptions
from app.imports.parsing import SourceInfo
from app.imports.rollback_tally import RollbackTally
from app.models import Contact, ExportJob, ExportStatus, ImportJob, ImportStatus, RunStatus
from app.storage import StorageError, key_belongs_to

LINK_SECONDS = 300
"""How long a download link in an answer stays valid."""


def iso(value: datetime | None) -> str | None:
    """A time as `2026-05-01T09:30:00Z` (UTC), or None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def absolute(url: str) -> str:
    """A link the client can follow as it is (local storage links are relative).

    Built on PUBLIC_URL, which production requires. On a laptop without it (development,
    test) the request's own host is used: there the client is the one who typed it.
    """
    base = current_app.config.get("PUBLIC_URL") or request.host_url
    return urljoin(base if base.endswith("/") else base + "/", url)


def detected(info: SourceInfo, row_estimate: int) -> dict[str, Any]:
    """What reading the top of an uploaded file found: its settings, columns and about how many
    rows."""
    return {
        "fileType": info.file_type,
        "encoding": info.encoding,
        "delimiter": info.delimiter,
        "sheet": info.sheet,
        "sheets": list(info.sheets),
        "headers": list(info.headers),
        "rowEstimate": row_estimate,
    }


def suggested_mapping(suggestions: list[Suggestion]) -> dict[str, Any]:
    """The suggested fieldMapping (header -> target spec) and why each column got its target."""
    return {
        "suggestedMapping": {s.header: target_to_spec(s.target) for s in suggestions},
        "suggestions": [
            {
                "header": s.header,
                "target": target_to_spec(s.target),
                "reason": s.reason,
                "detail": s.detail,
            }
            for s in suggestions
        ],
    }


def import_result(job: ImportJob, with_errors: bool = True) -> dict[str, Any]:
    """The design's ImportResult: the job id and its counts so far (and its first errors)."""
    result: dict[str, Any] = {
        "jobId": str(job.id),
        "status": job.status,
        "totalRows": job.total_rows,
        "imported": job.imported_count or 0,
        "created": job.created_count or 0,
        "updated": job.updated_count or 0,
        "skipped": job.skipped_count or 0,
        "repeated": job.repeated_count or 0,
    }
    if with_errors:
        result["errors"] = list(job.errors or [])
    return result


def can_roll_back(job: ImportJob) -> bool:
    """True when a rollback can start now."""
    return bool(
        job.can_rollback
        and job.is_finished
        and job.rollback_status not in (RunStatus.PENDING, RunStatus.PROCESSING)
    )


def _error_report_url(job: ImportJob) -> str | None:
    if not job.error_report_key or not key_belongs_to(job.error_report_key, job.tenant_id):
        return None
    stem = (job.file_name or "import").rsplit(".", 1)[0]
    try:
        url = current_app.extensions["storage"].signed_url(
            job.error_report_key, expires_in=LINK_SECONDS, download_name=f"{stem}-errors.csv"
        )
    except (StorageError, ValueError):
        return None
    return absolute(url)


def _dry_run(job: ImportJob) -> dict[str, Any] | None:
    if job.dry_run_status is None:
        return None
    result = DryRunResult.of(job)
    return {"status": job.dry_run_status, **(dry_run_fields(result) if result else {})}


def _rollback(job: ImportJob) -> dict[str, Any] | None:
    if job.rollback_status is None:
        return None
    result = RollbackTally.of(job) or RollbackTally()
    return {
        "status": job.rollback_status,
        "force": bool(job.rollback_force),
        "total": job.rollback_total,
        "processed": job.rollback_processed or 0,
        "deleted": result.deleted,
        "restored": result.restored,
        "unlinked": result.unlinked,
        "kept": result.kept,
        "error": result.error,
    }


def _follow_up_id(job: ImportJob) -> str | None:
    """The import that imports this one's refused rows, corrected (only refused rows have one)."""
    if not job.error_count or job.status == ImportStatus.DRAFT:
        return None
    follow_up = follow_up_of(job)
    return str(follow_up.id) if follow_up is not None else None


def import_job(job: ImportJob, with_errors: bool = True) -> dict[str, Any]:
    """An import's state: status, progress, counts, first errors, rollback."""
    options = ImportOptions.from_dict(job.import_options or {})
    return {
        **import_result(job, with_errors),
        "fileName": job.file_name,
        "fileType": job.file_type,
        "fileSize": job.file_size,
        "processedRows": job.processed_rows or 0,
        "unchanged": job.unchanged_count or 0,
        "errorCount": job.error_count or 0,
        "errorReportUrl": _error_report_url(job),
        "failureMessage": job.failure_message,
        "correctedRows": job.corrected_rows or 0,
        "followUpOf": str(job.follow_up_of) if job.follow_up_of else None,
        "followUp": _follow_up_id(job),
        "cancelRequested": bool(job.cancel_requested),
        "createdAt": iso(job.created_at),
        "startedAt": iso(job.started_at),
        "completedAt": iso(job.completed_at),
        "canRollback": can_roll_back(job),
        "rolledBackAt": iso(job.rolled_back_at),
        "rollback": _rollback(job),
        "dryRun": _dry_run(job),
        "fieldMapping": dict(job.field_mapping or {}),
        "options": {
            "duplicateStrategy": options.duplicate_strategy,
            "tags": list(options.tags),
            "segmentName": options.segment_name,
            "validateEmail": options.validate_email,
            "validatePhone": options.validate_phone,
            "defaultPhoneRegion": options.default_region,
            "sheet": options.sheet,
            "blankClears": options.blank_clears,
            "tagsMode": options.tags_mode,
            "fieldRules": dict(options.field_rules),
            "newContactStatus": options.new_contact_status,
            "consentConfirmed": options.consent_confirmed,
            "suppressionList": options.suppression_list,
        },
        "links": {"self": url_for("api.get_import", job_id=job.id)},
    }


def export_job(job: ExportJob) -> dict[str, Any]:
    """An export's state: what it holds, progress, and when its file expires."""
    return {
        "jobId": str(job.id),
        "status": ExportStatus.EXPIRED if job.is_expired() else job.status,
        "format": job.file_format,
        "exportType": job.export_type,
        "filters": dict(job.filters or {}),
        "selectedFields": list(job.selected_fields or []),
        "fileName": job.file_name,
        "fileSize": job.file_size,
        "totalContacts": job.total_contacts,
        "processedContacts": job.processed_contacts or 0,
        "failureMessage": job.failure_message,
        "createdAt": iso(job.created_at),
        "startedAt": iso(job.started_at),
        "completedAt": iso(job.completed_at),
        "expiresAt": iso(job.expires_at),
        "links": {
            "self": url_for("api.get_export", job_id=job.id),
            "download": url_for("api.download_export", job_id=job.id),
        },
    }


def contact(item: Contact) -> dict[str, Any]:
    """A contact with its custom fields, tags and segments."""
    return {
        "id": str(item.id),
        "email": item.email,
        "firstName": item.first_name,
        "lastName": item.last_name,
        "company": item.company,
        "phone": item.phone,
        "customFields": dict(item.custom_fields or {}),
        "subscriptionStatus": item.subscription_status,
        "consentedOn": item.consented_on.isoformat() if item.consented_on else None,
        "unsubscribedOn": item.unsubscribed_on.isoformat() if item.unsubscribed_on else None,
        "tags": [t.name for t in item.tags],
        "segments": [{"id": str(s.id), "name": s.name} for s in item.segments],
        "emailsOpened": item.emails_opened or 0,
        "emailsClicked": item.emails_clicked or 0,
        "lastEngagedAt": iso(item.last_engaged_at),
        "createdAt": iso(item.created_at),
        "updatedAt": iso(item.updated_at),
    }
