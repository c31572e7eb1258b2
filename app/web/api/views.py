"""API endpoints; every view authenticates with a bearer token and reads through the tenant scope.

The views only validate and translate: uploads, imports, rollbacks and exports are done by the
same services the web wizard, the history pages and the command line call. The exports' views
are in `exports.py`, the refused rows' in `review.py`, on this module's blueprint.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import timedelta
from typing import Any, BinaryIO, TypeVar, cast

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request, url_for
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload, undefer
from werkzeug.datastructures import FileStorage

from app.extensions import csrf, db, limiter
from app.imports.service import ImportRefused, create_import_job, request_cancel
from app.imports.suggestions import suggestions_for
from app.imports.uploads import (
    FileFacts,
    StoredUpload,
    UploadRefused,
    analyze_file,
    display_file_name,
    receive_upload,
    stored_copy,
)
from app.imports.wizard_state import WizardState
from app.jobs.queue import QUEUE_ERRORS
from app.jobs.submit import enqueue_import, queue_dry_run, queue_rollback
from app.models import (
    Contact,
    ExportJob,
    ImportJob,
    ImportStatus,
    Segment,
    Tag,
    contact_tags,
    segment_contacts,
)
from app.models.types import utcnow
from app.storage import ObjectTooLarge, S3Storage, StorageError, object_key
from app.tenancy import current_tenant_id, get_scoped_or_404, scoped
from app.web.api import docs as api_docs
from app.web.api import errors, responses
from app.web.api.auth import authenticate_token, rate_limit_key, unauthorized
from app.web.api.errors import ApiError, field_error, from_validation_error
from app.web.api.imports import build_options, file_url_of, upload_key
from app.web.api.openapi import document
from app.web.api.pagination import paginate
from app.web.api.schemas import ImportRequestBody, MappingAndOptionsBody, PresignBody, RollbackBody
from app.web.input_checks import TOO_DEEP_REFUSED, nested_too_deep

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api")
csrf.exempt(bp)  # no cookie is accepted, so there is nothing to forge
errors.register(bp)
PUBLIC_ENDPOINTS = {"api.openapi_json", "api.docs"}
# One budget per token across every endpoint; the description is free to read.
limiter.shared_limit(
    lambda: current_app.config["API_RATE_LIMIT"],
    scope="api",
    key_func=rate_limit_key,
    exempt_when=lambda: request.endpoint in PUBLIC_ENDPOINTS,
)(bp)
JSON_BODY_LIMIT = 1024 * 1024
IDEMPOTENCY_HEADER = "Idempotency-Key"
PRESIGN_SECONDS = 3600

M = TypeVar("M", bound=BaseModel)


@bp.before_request
def require_token() -> Any:
    """Every endpoint but the description needs a bearer token; a session cookie is not enough."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if "Authorization" not in request.headers and request.cookies:
        return unauthorized(
            "The API accepts only API tokens (Authorization: Bearer <token>), not a signed-in "
            "browser session: create a token with `flask --app wsgi tokens create`."
        )
    return authenticate_token()


@bp.after_request
def rate_limit_headers(response: Response) -> Response:
    """Tell the client its budget; Retry-After when it ran out (a 429 may bring its own)."""
    current = limiter.current_limit
    if current is None:
        return response
    try:
        reset_at = int(current.reset_at)
        response.headers["X-RateLimit-Limit"] = str(current.limit.amount)
        response.headers["X-RateLimit-Remaining"] = str(max(current.remaining, 0))
        response.headers["X-RateLimit-Reset"] = str(reset_at)
    except Exception:  # the counters' storage is down: no headers, never a failed request
        log.warning("rate limit headers unavailable", exc_info=True)
        return response
    if response.status_code == 429 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = str(max(1, reset_at - int(time.time())))
    return response


# --- reading requests ----------------------------------------------------------------------


def _json_body(model: type[M], empty_ok: bool = False) -> M:
    """The JSON body validated by `model`: 415 when it is not JSON, 400/422 when it is wrong."""
    if empty_ok and not request.content_length and not request.get_data(cache=True):
        return model()
    if not request.is_json:
        raise ApiError(415, "Send the body as JSON with the header Content-Type: application/json.")
    if (request.content_length or 0) > JSON_BODY_LIMIT:
        raise ApiError(413, "A JSON body is at most 1 MB: upload files with POST /api/uploads.")
    try:
        return model.model_validate_json(request.get_data(cache=True) or b"")
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def _form_json(name: str, default: Any) -> Any:
    """A multipart form field holding JSON text (e.g. fieldMapping); 400 when it is not JSON."""
    raw = request.form.get(name)
    if raw is None or raw.strip() == "":
        return default
    if nested_too_deep(raw):
        raise field_error(400, name, TOO_DEEP_REFUSED)
    try:
        return json.loads(raw)
    except RecursionError:  # json.loads recurses per level: deep nesting would be a 500
        raise field_error(400, name, f"{name} is JSON nested too deeply to be read.") from None
    except ValueError:
        raise field_error(
            400, name, f'{name} must be JSON text, e.g. {{"Email": "email"}}.'
        ) from None


def _uploaded_file() -> FileStorage:
    """The multipart part named `file`; 415 when the body is not multipart, 422 when absent."""
    if request.mimetype != "multipart/form-data":
        raise ApiError(415, "Send the file as multipart/form-data in a part named 'file'.")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise field_error(422, "file", "Send the file in a multipart part named 'file'.")
    return upload


def _idempotency_key() -> str | None:
    """The Idempotency-Key header: 1 to 255 printable ASCII characters, or None."""
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if not 1 <= len(key) <= 255 or not all(33 <= ord(ch) < 127 for ch in key):
        raise field_error(
            400,
            IDEMPOTENCY_HEADER,
            "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces, "
            "e.g. a UUID.",
        )
    return key


def _earlier(model: type[ImportJob] | type[ExportJob], key: str | None) -> Any:
    """The job an earlier request with this Idempotency-Key started, if any."""
    if key is None:
        return None
    return db.session.scalar(scoped(model).where(model.idempotency_key == key))


def _accepted(body: dict[str, Any], job: ImportJob | ExportJob, replayed: bool = False) -> Response:
    """A 202 with `body` and the job's own URL, to poll, as its Location."""
    response = jsonify(body)
    response.status_code = 202
    endpoint = "api.get_import" if isinstance(job, ImportJob) else "api.get_export"
    response.headers["Location"] = url_for(endpoint, job_id=job.id)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


# --- who am I ------------------------------------------------------------------------------


@bp.get("/me")
def me() -> Any:
    """Who the token acts as, and its tenant."""
    user = g.api_user
    count = db.session.scalar(scoped(Contact, func.count(Contact.id)))
    return jsonify(
        user={"id": str(user.id), "email": user.email, "role": user.role},
        tenant={"id": str(user.tenant_id), "name": user.tenant.name, "contactCount": count},
    )


# --- uploads -------------------------------------------------------------------------------


def _receive(upload: FileStorage, sheet: str | None = None) -> StoredUpload:
    """Check and store an uploaded file, as the wizard's upload step does."""
    try:
        stream = cast(BinaryIO, upload.stream)
        return receive_upload(current_tenant_id(), stream, upload.filename, sheet=sheet)
    except UploadRefused as exc:
        raise field_error(422, "options.sheet" if sheet else "file", str(exc)) from None
    except ObjectTooLarge as exc:
        raise ApiError(413, str(exc)) from None
    except StorageError as exc:
        log.warning("upload not stored: %s", exc)
        raise ApiError(503, "The file could not be stored right now: try again shortly.") from None


@bp.post("/uploads")
def upload() -> Any:
    """Store a file for a later import; answers the opaque fileUrl to import it with, what was
    detected in the file and the mapping the wizard would suggest for it."""
    stored = _receive(_uploaded_file())
    facts = stored.facts
    suggestions = suggestions_for(
        current_tenant_id(), facts.info.headers, facts.sample, leave_out='"ignore"'
    )
    response = jsonify(
        fileUrl=file_url_of(stored.key, stored.file_name),
        fileName=stored.file_name,
        fileSize=stored.size,
        fileType=facts.info.file_type,
        detected=responses.detected(facts.info, facts.row_estimate),
        **responses.suggested_mapping(suggestions),
    )
    response.status_code = 201
    return response


@bp.post("/uploads/presign")
def presign_upload() -> Any:
    """A presigned S3 upload for a big file (S3 storage only); import it with its fileUrl."""
    body = _json_body(PresignBody)
    storage = current_app.extensions["storage"]
    if not isinstance(storage, S3Storage):
        raise ApiError(
            400,
            "Direct uploads need S3 storage, and this server keeps files on its own disk: "
            "send the file to POST /api/uploads instead.",
        )
    suffix = "." + body.file_name.rsplit(".", 1)[-1].lower() if "." in body.file_name else ""
    key = object_key(current_tenant_id(), "uploads", suffix)
    try:
        post = storage.presigned_upload(
            key, max_bytes=current_app.config["MAX_CONTENT_LENGTH"], expires_in=PRESIGN_SECONDS
        )
    except StorageError as exc:
        log.warning("presign failed: %s", exc)
        raise ApiError(503, "Storage is not reachable right now: try again shortly.") from None
    file_name = display_file_name(body.file_name)
    return jsonify(
        fileUrl=file_url_of(key, file_name),
        fileName=file_name,
        uploadUrl=post["url"],
        method="POST",
        fields=post["fields"],
        expiresAt=responses.iso(utcnow() + timedelta(seconds=PRESIGN_SECONDS)),
        maxBytes=current_app.config["MAX_CONTENT_LENGTH"],
    )


# --- imports -------------------------------------------------------------------------------


def _import_request() -> tuple[MappingAndOptionsBody, str, str, FileFacts, bool]:
    """Body, file name, storage key and what the file holds, from JSON or multipart.

    The last value says whether the file was uploaded with this request (and is ours to remove
    when the request is refused).
    """
    if request.mimetype == "multipart/form-data":
        raw = {
            "fieldMapping": _form_json("fieldMapping", None),
            "options": _form_json("options", {}),
        }
        try:
            body = MappingAndOptionsBody.model_validate_json(json.dumps(raw))
        except ValidationError as exc:
            raise from_validation_error(exc) from None
        stored = _receive(_uploaded_file(), sheet=body.options.sheet)
        return body, stored.file_name, stored.key, stored.facts, True
    request_body = _json_body(ImportRequestBody)
    key, uploaded_as = upload_key(current_tenant_id(), request_body.file_url)
    suffix = key.rsplit("/", 1)[-1][32:]
    file_name = display_file_name(request_body.file_name or uploaded_as or f"upload{suffix}")
    try:
        with stored_copy(key) as path:
            facts = analyze_file(path, file_name, sheet=request_body.options.sheet)
    except UploadRefused as exc:
        field = "options.sheet" if request_body.options.sheet else "fileUrl"
        raise field_error(422, field, str(exc)) from None
    return request_body, file_name, key, facts, False


@bp.post("/contacts/import")
def start_import() -> Any:
    """Start an import (or a dry run) of an uploaded file, or of a file sent with the request."""
    key = _idempotency_key()
    earlier = _earlier(ImportJob, key)
    if earlier is not None:
        return _accepted(responses.import_result(earlier), earlier, replayed=True)
    if request.mimetype not in ("application/json", "multipart/form-data") and not request.is_json:
        raise ApiError(415, "Send JSON (with a fileUrl) or multipart/form-data (with the file).")
    body, file_name, file_key, facts, owned = _import_request()
    try:
        options = build_options(current_tenant_id(), body, file_name, file_key, facts)
    except ApiError:
        if owned:
            current_app.extensions["storage"].delete(file_key)
        raise
    try:
        size = current_app.extensions["storage"].size(file_key)
    except StorageError as exc:
        log.warning("upload %s unreadable: %s", file_key, exc)
        raise ApiError(503, "Storage is not reachable right now: try again shortly.") from None
    dry_run = body.options.dry_run
    try:
        job = create_import_job(
            current_tenant_id(),
            options,
            user_id=g.api_user.id,
            file_size=size,
            status=ImportStatus.DRAFT if dry_run else ImportStatus.PENDING,
            idempotency_key=key,
        )
    except IntegrityError:  # the same key, sent twice at once: the other request won
        db.session.rollback()
        if owned:
            current_app.extensions["storage"].delete(file_key)
        earlier = _earlier(ImportJob, key)
        return _accepted(responses.import_result(earlier), earlier, replayed=True)
    try:
        if dry_run:  # a dry run is a draft, but no marketer's unfinished import
            WizardState(origin="api").store_on(job)
            queue_dry_run(job)
        else:
            enqueue_import(job)
    except QUEUE_ERRORS as exc:
        # The row is committed as pending: the scheduler queues it again when Redis is back.
        db.session.rollback()
        log.warning("import %s not queued yet: %s", job.id, exc)
    db.session.refresh(job)
    return _accepted(responses.import_result(job), job)


@bp.get("/contacts/import/<job_id>")
def get_import(job_id: str) -> Any:
    """An import's status, counts, first errors and rollback."""
    return jsonify(responses.import_job(get_scoped_or_404(ImportJob, job_id)))


@bp.post("/contacts/import/<job_id>/rollback")
def rollback_import(job_id: str) -> Any:
    """Undo an import: delete the contacts it created and restore the ones it updated."""
    job = get_scoped_or_404(ImportJob, job_id)
    body = _json_body(RollbackBody, empty_ok=True)
    if job.status == ImportStatus.DRAFT:
        raise ApiError(
            409, "Nothing was imported by this dry run or draft: there is nothing to roll back."
        )
    try:
        queue_rollback(job, force=body.force)
    except ImportRefused as exc:
        raise ApiError(409, str(exc)) from None
    except QUEUE_ERRORS as exc:
        db.session.rollback()
        log.warning("rollback of %s not queued yet: %s", job.id, exc)
    job = get_scoped_or_404(ImportJob, job_id)
    return _accepted(responses.import_job(job), job)


@bp.post("/contacts/import/<job_id>/cancel")
def cancel_import(job_id: str) -> Any:
    """Cancel a waiting or running import; a running one stops after its current batch."""
    job = get_scoped_or_404(ImportJob, job_id)
    try:
        request_cancel(job)
    except ImportRefused as exc:
        raise ApiError(409, str(exc)) from None
    return _accepted(responses.import_job(job), job)


@bp.get("/contacts/imports")
def list_imports() -> Any:
    """The tenant's imports, newest first, a page at a time."""
    listed = scoped(ImportJob).where(ImportJob.status != ImportStatus.DRAFT)
    # the large JSON columns an item shows come with the page; the errors stay unread
    listed = listed.options(
        undefer(ImportJob.import_options),
        undefer(ImportJob.field_mapping),
        undefer(ImportJob.dry_run),
        undefer(ImportJob.rollback_result),
    )
    jobs, cursor = paginate(listed, ImportJob)
    items = [responses.import_job(j, with_errors=False) for j in jobs]
    return jsonify(items=items, nextCursor=cursor)


# --- contacts ------------------------------------------------------------------------------


@bp.get("/contacts")
def list_contacts() -> Any:
    """The tenant's contacts, newest first; filter by email, tag or segment."""
    stmt = scoped(Contact).options(selectinload(Contact.tags), selectinload(Contact.segments))
    email = request.args.get("email", "").strip()
    if email:
        stmt = stmt.where(Contact.email_normalized == email.lower())
    tag = request.args.get("tag", "").strip()
    if tag:
        tag_ids = scoped(Tag, Tag.id).where(Tag.name_normalized == tag.lower())
        stmt = stmt.where(
            Contact.id.in_(
                select(contact_tags.c.contact_id).where(contact_tags.c.tag_id.in_(tag_ids))
            )
        )
    segment_id = request.args.get("segmentId", "").strip()
    if segment_id:
        try:
            segment_key = uuid.UUID(segment_id)
        except ValueError:
            raise field_error(
                400, "segmentId", "segmentId must be a segment's id (a UUID)."
            ) from None
        segment_ids = scoped(Segment, Segment.id).where(Segment.id == segment_key)
        stmt = stmt.where(
            Contact.id.in_(
                select(segment_contacts.c.contact_id).where(
                    segment_contacts.c.segment_id.in_(segment_ids)
                )
            )
        )
    contacts, cursor = paginate(stmt, Contact)
    return jsonify(items=[responses.contact(c) for c in contacts], nextCursor=cursor)


@bp.get("/contacts/<contact_id>")
def get_contact(contact_id: str) -> Any:
    """One contact with its custom fields, tags and segments."""
    return jsonify(responses.contact(get_scoped_or_404(Contact, contact_id)))


# --- the description -----------------------------------------------------------------------


@bp.get("/openapi.json")
def openapi_json() -> Any:
    """The OpenAPI 3.1 description of this API."""
    return jsonify(document())


@bp.get("/docs")
def docs() -> Any:
    """The API's documentation, rendered from the OpenAPI description."""
    doc = document()
    return render_template(
        "api/docs.html",
        doc=doc,
        intro=api_docs.prose(doc["info"]["description"]),
        operations=api_docs.operations(doc),
        schemas=api_docs.schema_tables(doc),
    )
