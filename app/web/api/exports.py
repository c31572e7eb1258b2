"""The API's exports: start one, follow it, get a link to its file, list them.

    POST /api/contacts/export                  start an export (all, filtered or a segment)
    GET  /api/contacts/export/{jobId}          its status, progress and expiry
    GET  /api/contacts/export/{jobId}/download a link to its file, valid for five minutes
    GET  /api/contacts/exports                 the tenant's exports, newest first

The export itself is run by the same service the web page and the command line call.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import g, jsonify
from sqlalchemy.exc import IntegrityError

from app.exports.fields import DEFAULT_FIELDS
from app.exports.query import CONDITION_FIELDS, ExportFilters, FieldCondition
from app.exports.service import (
    ExportExpired,
    ExportNotReady,
    ExportRefused,
    ExportRequest,
    create_export,
    download_link,
    mark_failed,
    tenant_fields,
)
from app.extensions import db
from app.jobs.queue import QUEUE_ERRORS
from app.jobs.submit import enqueue_export
from app.models import ExportJob, Segment
from app.models.types import utcnow
from app.tenancy import current_tenant_id, get_scoped_or_404, scoped
from app.web.api import responses
from app.web.api.errors import ApiError, field_error
from app.web.api.pagination import paginate
from app.web.api.schemas import ExportOptionsBody
from app.web.api.views import _accepted, _earlier, _idempotency_key, _json_body, bp

log = logging.getLogger(__name__)

ENGAGEMENT_FIELDS = ["emails_opened", "emails_clicked", "last_engaged_at"]


def _export_fields(body: ExportOptionsBody) -> list[str]:
    """The field keys in order; 422 naming any field the tenant does not have."""
    available = tenant_fields(current_tenant_id())
    known = {f.key for f in available}
    keys = list(body.selected_fields or DEFAULT_FIELDS)
    details = [
        {"field": f"selectedFields[{i}]", "message": f"'{k}' is not a field you can export."}
        for i, k in enumerate(keys)
        if k not in known
    ]
    if details:
        raise ApiError(422, "Some selected fields do not exist: see details.", details)
    if body.include_custom_fields:
        keys += [f.key for f in available if f.is_custom]
    if body.include_engagement_metrics:
        keys += ENGAGEMENT_FIELDS
    return list(dict.fromkeys(keys))


def _export_filters(body: ExportOptionsBody) -> ExportFilters:
    """The service's filters; 422 naming a condition on an unknown field or without a value."""
    filters = body.filters
    if body.segment_id is not None:
        segment = db.session.scalar(scoped(Segment).where(Segment.id == body.segment_id))
        if segment is None:
            raise field_error(422, "segmentId", "There is no segment with this id.")
    if filters is None:
        return ExportFilters(segment_id=str(body.segment_id) if body.segment_id else None)
    custom = {f.key for f in tenant_fields(current_tenant_id()) if f.is_custom}
    details = []
    for i, c in enumerate(filters.conditions):
        if c.field not in CONDITION_FIELDS and c.field not in custom:
            details.append(
                {
                    "field": f"filters.conditions[{i}].field",
                    "message": f"Contacts cannot be filtered by '{c.field}': use "
                    f"{', '.join(CONDITION_FIELDS)} or custom:<key>.",
                }
            )
        elif c.op in ("equals", "contains") and not c.value.strip():
            details.append(
                {"field": f"filters.conditions[{i}].value", "message": f"'{c.op}' needs a value."}
            )
    if details:
        raise ApiError(422, "Some filters cannot be used: see details.", details)

    def day(value: Any) -> str | None:
        return value.isoformat() if value else None

    return ExportFilters(
        segment_id=str(body.segment_id) if body.segment_id else None,
        tags=list(filters.tags),
        tags_mode=filters.tags_mode,
        created_from=day(filters.created_from),
        created_to=day(filters.created_to),
        updated_from=day(filters.updated_from),
        updated_to=day(filters.updated_to),
        statuses=list(filters.statuses),
        conditions=[FieldCondition(c.field, c.op, c.value) for c in filters.conditions],
        min_opened=filters.min_opened,
        min_clicked=filters.min_clicked,
        engaged_since=day(filters.engaged_since),
    )


@bp.post("/contacts/export")
def start_export() -> Any:
    """Start an export of all contacts, a filtered set or a segment."""
    key = _idempotency_key()
    earlier = _earlier(ExportJob, key)
    if earlier is not None:
        return _accepted({"jobId": str(earlier.id)}, earlier, replayed=True)
    body = _json_body(ExportOptionsBody, empty_ok=True)
    fields = _export_fields(body)
    filters = _export_filters(body)
    if body.segment_id is not None:
        export_type = "segment"
    else:
        export_type = "filtered" if filters.without_scope().to_dict() else "full"
    export = ExportRequest(export_type, filters, fields, body.format, body.csv_for_excel)
    try:
        job = create_export(current_tenant_id(), export, user_id=g.api_user.id, idempotency_key=key)
    except ExportRefused as exc:
        raise ApiError(422, str(exc)) from None
    except IntegrityError:  # the same key, sent twice at once: the other request won
        db.session.rollback()
        earlier = _earlier(ExportJob, key)
        return _accepted({"jobId": str(earlier.id)}, earlier, replayed=True)
    try:
        enqueue_export(job)
    except QUEUE_ERRORS as exc:
        db.session.rollback()
        log.warning("export %s not queued: %s", job.id, exc)
        db.session.refresh(job)
        job.idempotency_key = None  # a retry with the same key starts afresh
        mark_failed(job.id, "The job queue was not reachable: the export was not started.")
        raise ApiError(503, "The job queue is not reachable: try again in a minute.") from None
    return _accepted({"jobId": str(job.id)}, job)


@bp.get("/contacts/export/<job_id>")
def get_export(job_id: str) -> Any:
    """An export's status, progress and expiry."""
    return jsonify(responses.export_job(get_scoped_or_404(ExportJob, job_id)))


@bp.get("/contacts/export/<job_id>/download")
def download_export(job_id: str) -> Any:
    """A link to the export's file, valid for five minutes."""
    job = get_scoped_or_404(ExportJob, job_id)
    try:
        url = download_link(job)
    except ExportExpired as exc:
        raise ApiError(410, str(exc)) from None
    except ExportNotReady as exc:
        raise ApiError(400, str(exc)) from None
    return jsonify(
        downloadUrl=responses.absolute(url),
        fileName=job.file_name,
        expiresAt=responses.iso(utcnow() + timedelta(seconds=responses.LINK_SECONDS)),
    )


@bp.get("/contacts/exports")
def list_exports() -> Any:
    """The tenant's exports, newest first, a page at a time."""
    jobs, cursor = paginate(scoped(ExportJob), ExportJob)
    return jsonify(items=[responses.export_job(j) for j in jobs], nextCursor=cursor)
