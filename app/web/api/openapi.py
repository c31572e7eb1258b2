"""The OpenAPI 3.1 description of the API, served at /api/openapi.json and rendered at /api/docs.

Request bodies come from the pydantic models that validate them (`schemas.py`); the answers
are described here by hand, and the API tests check every real answer against them, with
Schemathesis fuzzing each operation on top.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from app.imports.batch_commit import ERRORS_KEPT_ON_JOB
from app.imports.suggestions import SUGGESTION_REASONS
from app.models import SUBSCRIPTION_STATUSES
from app.models.exports import EXPORT_FORMATS, EXPORT_STATUSES, EXPORT_TYPES
from app.models.imports import IMPORT_STATUSES, ROLLBACK_STATUSES
from app.web.api import schemas
from app.web.api.pagination import DEFAULT_LIMIT, MAX_LIMIT

REF = "#/components/schemas/"


def ref(name: str) -> dict[str, str]:
    """A reference to a component schema."""
    return {"$ref": REF + name}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` or null."""
    return {"anyOf": [schema, {"type": "null"}]}


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
COUNT = {"type": "integer", "minimum": 0}
BOOLEAN = {"type": "boolean"}
UUID = {"type": "string", "format": "uuid"}
TIME = {"type": "string", "format": "date-time"}
FILE_TYPE = {"enum": ["csv", "xlsx", "json"]}


def obj(properties: dict[str, Any], description: str = "", extra: bool = False) -> dict[str, Any]:
    """An object schema whose properties are all present in every answer."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": extra,
    }
    if description:
        schema["description"] = description
    return schema


ROW_ERROR = {
    "type": "object",
    "description": "A row that did not go in: its number as seen in the file, the column, the "
    "value and what to do. `row` is 1-based and counts what a person sees: in a CSV or Excel file "
    "the sheet row (the header is row 1); in an NDJSON file the line (blank lines count; the "
    'message says "Line N"); in a JSON array the record (the first record is 1; the message says '
    '"Record N").',
    "properties": {
        "row": nullable(INTEGER),
        "column": nullable(STRING),
        "value": nullable(STRING),
        "message": STRING,
    },
    "required": ["row", "message"],
}

IMPORT_RESULT = obj(
    {
        "jobId": UUID,
        "status": {"enum": list(IMPORT_STATUSES)},
        "totalRows": nullable(COUNT),
        "imported": COUNT,
        "created": COUNT,
        "updated": COUNT,
        "skipped": COUNT,
        "repeated": COUNT,
        "errors": {
            "type": "array",
            "items": ref("RowError"),
            "maxItems": ERRORS_KEPT_ON_JOB,
            "description": f"The first {ERRORS_KEPT_ON_JOB:,} rows that did not go in.",
        },
    },
    "The design's ImportResult: the job and its counts so far. `imported` = created + "
    "updated + unchanged + repeated; `repeated` counts rows whose email an earlier row of the "
    "file had (the later row wins).",
)

IMPORT_OPTIONS_OUT = obj(
    {
        "duplicateStrategy": {"enum": ["skip", "update", "create"]},
        "tags": {"type": "array", "items": STRING},
        "segmentName": nullable(STRING),
        "validateEmail": BOOLEAN,
        "validatePhone": BOOLEAN,
        "defaultPhoneRegion": nullable(STRING),
        "sheet": nullable(STRING),
        "blankClears": BOOLEAN,
        "tagsMode": {"enum": ["add", "replace"]},
        "fieldRules": {"type": "object", "additionalProperties": STRING},
        "newContactStatus": {"enum": ["non_subscribed", "subscribed"]},
        "consentConfirmed": BOOLEAN,
        "suppressionList": BOOLEAN,
    },
    "The options the import runs with.",
)

ROLLBACK = obj(
    {
        "status": {"enum": list(ROLLBACK_STATUSES)},
        "force": BOOLEAN,
        "total": nullable(COUNT),
        "processed": COUNT,
        "deleted": COUNT,
        "restored": COUNT,
        "unlinked": COUNT,
        "kept": COUNT,
        "error": nullable(STRING),
    },
    "The rollback's progress: contacts deleted, restored to their previous values, unlinked from "
    "the import's tags and segment, and kept because they changed since (unless forced).",
)

DRY_RUN = {
    "type": "object",
    "description": "What the import would do (dryRun): wouldCreate, wouldUpdate, "
    "wouldLeaveUnchanged, wouldSkip, errorRows, errors, fieldChanges, unsubscribedMatches, "
    "wouldRepeat and repeats (rows whose email an earlier row had: the later row wins, with "
    "the first examples as row and firstRow), statusChanges (how many contacts would get which subscription status: `from` is `new` "
    "for contacts the import would create), domainTypos; `error` when the file could not be "
    "read.",
    "properties": {
        "status": {"enum": ["pending", "processing", "completed", "failed"]},
        "processedRows": COUNT,
        "wouldCreate": COUNT,
        "wouldUpdate": COUNT,
        "wouldLeaveUnchanged": COUNT,
        "wouldSkip": COUNT,
        "errorRows": COUNT,
        "errors": {"type": "array", "items": ref("RowError")},
        "error": STRING,
    },
    "required": ["status"],
}

_IMPORT_JOB_PROPERTIES = {
    **IMPORT_RESULT["properties"],
    "fileName": nullable(STRING),
    "fileType": nullable(FILE_TYPE),
    "fileSize": nullable(COUNT),
    "processedRows": COUNT,
    "unchanged": COUNT,
    "errorCount": COUNT,
    "errorReportUrl": nullable({"type": "string", "format": "uri"}),
    "failureMessage": nullable(STRING),
    "correctedRows": {
        **COUNT,
        "description": "Rows corrected in the browser or with POST .../corrections before it ran.",
    },
    "followUpOf": {
        **nullable(UUID),
        "description": "For a follow-up import: the import whose refused rows it imports.",
    },
    "followUp": {
        **nullable(UUID),
        "description": "The follow-up import of this import's refused rows, if one was made "
        "(a draft while they are being corrected).",
    },
    "cancelRequested": BOOLEAN,
    "createdAt": nullable(TIME),
    "startedAt": nullable(TIME),
    "completedAt": nullable(TIME),
    "canRollback": BOOLEAN,
    "rolledBackAt": nullable(TIME),
    "rollback": nullable(ref("Rollback")),
    "dryRun": nullable(ref("DryRun")),
    "fieldMapping": {"type": "object", "additionalProperties": STRING},
    "options": ref("ImportOptionsUsed"),
    "links": obj({"self": STRING}),
}

IMPORT_JOB = obj(
    _IMPORT_JOB_PROPERTIES,
    "An import: status, progress, counts, the first errors, the error report (a link valid for "
    "5 minutes) and its rollback.",
)
IMPORT_SUMMARY = obj(
    {k: v for k, v in _IMPORT_JOB_PROPERTIES.items() if k != "errors"},
    "An import as listed in the history (the same as an import, without its errors).",
)

EXPORT_JOB = obj(
    {
        "jobId": UUID,
        "status": {"enum": list(EXPORT_STATUSES)},
        "format": nullable({"enum": list(EXPORT_FORMATS)}),
        "exportType": nullable({"enum": list(EXPORT_TYPES)}),
        "filters": {"type": "object"},
        "selectedFields": {"type": "array", "items": STRING},
        "fileName": nullable(STRING),
        "fileSize": nullable(COUNT),
        "totalContacts": nullable(COUNT),
        "processedContacts": COUNT,
        "failureMessage": nullable(STRING),
        "createdAt": nullable(TIME),
        "startedAt": nullable(TIME),
        "completedAt": nullable(TIME),
        "expiresAt": nullable(TIME),
        "links": obj({"self": STRING, "download": STRING}),
    },
    "An export: pending, processing, completed, failed, or expired once its file is deleted.",
)

CONTACT = obj(
    {
        "id": UUID,
        "email": STRING,
        "firstName": nullable(STRING),
        "lastName": nullable(STRING),
        "company": nullable(STRING),
        "phone": nullable(STRING),
        "customFields": {"type": "object"},
        "subscriptionStatus": {"enum": list(SUBSCRIPTION_STATUSES)},
        "consentedOn": nullable({"type": "string", "format": "date"}),
        "unsubscribedOn": nullable({"type": "string", "format": "date"}),
        "tags": {"type": "array", "items": STRING},
        "segments": {"type": "array", "items": obj({"id": UUID, "name": STRING})},
        "emailsOpened": COUNT,
        "emailsClicked": COUNT,
        "lastEngagedAt": nullable(TIME),
        "createdAt": nullable(TIME),
        "updatedAt": nullable(TIME),
    },
    "A contact with its custom fields (by key), tags and segments.",
)

ERROR = {
    "type": "object",
    "description": "Every error: one sentence, and the fields at fault when there are any.",
    "properties": {
        "error": STRING,
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": STRING, "message": STRING},
                "required": ["field", "message"],
            },
        },
    },
    "required": ["error", "details"],
}

TARGET_SPEC = {
    "type": "string",
    "description": "A fieldMapping target: email, first_name, last_name, company, phone, tags, "
    "ignore, custom:<key> for an existing custom field, or <key>:<type> for a custom field the "
    "import creates (type text, number, date or boolean).",
}

DETECTED = obj(
    {
        "fileType": FILE_TYPE,
        "encoding": {
            **nullable(STRING),
            "description": "The text encoding (e.g. utf-8, cp1252); null for XLSX.",
        },
        "delimiter": {
            **nullable(STRING),
            "description": "The column separator of a CSV/TSV file (e.g. `,` `;` or a tab); "
            "null for XLSX and JSON.",
        },
        "sheet": {
            **nullable(STRING),
            "description": "The worksheet read: the first one with contacts; null but for XLSX.",
        },
        "sheets": {
            "type": "array",
            "items": STRING,
            "description": "Every worksheet of an XLSX file, in order (empty for other types). "
            "To import another one, pass options.sheet.",
        },
        "headers": {
            "type": "array",
            "items": STRING,
            "description": "The file's column names, in the file's order.",
        },
        "rowEstimate": {
            **COUNT,
            "description": "About how many contact rows the file has (exact under 1 MB).",
        },
    },
    "What reading the top of the file found; an import of its fileUrl reads it the same way.",
)

SUGGESTION = obj(
    {
        "header": {"type": "string", "description": "The column."},
        "target": TARGET_SPEC,
        "reason": {
            "enum": list(SUGGESTION_REASONS),
            "description": "Why: "
            + "; ".join(f"`{name}`, {meaning}" for name, meaning in SUGGESTION_REASONS.items())
            + ".",
        },
        "detail": {
            "type": "string",
            "description": "The reason in a sentence, as the web wizard shows it, e.g. "
            "\"Known spelling, German ('Vorname')\".",
        },
    },
    "The target suggested for one column and why.",
)

UPLOAD = obj(
    {
        "fileUrl": {
            "type": "string",
            "description": "An opaque reference to the stored file, for POST /api/contacts/import.",
        },
        "fileName": STRING,
        "fileSize": COUNT,
        "fileType": FILE_TYPE,
        "detected": ref("UploadDetected"),
        "suggestedMapping": {
            "type": "object",
            "additionalProperties": TARGET_SPEC,
            "description": "A target for every column (`ignore` where nothing fits or the column "
            "is empty), ready to send as the import's fieldMapping as it is or after changes. "
            "It is what the web wizard would suggest: the tenant's custom fields and the "
            "mappings of its last imports count. A file without an email column gets no email "
            "target, and an import with it is refused until one is mapped.",
        },
        "suggestions": {
            "type": "array",
            "items": ref("MappingSuggestion"),
            "description": "Why each column got its target, in the file's column order.",
        },
    },
    "A stored upload, what was detected in it and the suggested mapping; the type is read from "
    "the file (CSV/TSV, XLSX, JSON or NDJSON).",
)

PRESIGNED_UPLOAD = obj(
    {
        "fileUrl": STRING,
        "fileName": STRING,
        "uploadUrl": {"type": "string", "format": "uri"},
        "method": {"const": "POST"},
        "fields": {"type": "object", "additionalProperties": STRING},
        "expiresAt": TIME,
        "maxBytes": COUNT,
    },
    "POST a multipart form to uploadUrl with every field of `fields`, then the file as the "
    "last part, named `file`; then import it with its fileUrl.",
)

DOWNLOAD = obj(
    {
        "downloadUrl": {"type": "string", "format": "uri"},
        "fileName": nullable(STRING),
        "expiresAt": TIME,
    },
    "A link to the export's file, valid for 5 minutes.",
)

ME = obj(
    {
        "user": obj({"id": UUID, "email": STRING, "role": STRING}),
        "tenant": obj({"id": UUID, "name": STRING, "contactCount": COUNT}),
    },
    "The user a token acts as, and the tenant it reads and writes.",
)


REFUSED_ROW = obj(
    {
        "rowNumber": INTEGER,
        "cells": {
            "type": "object",
            "additionalProperties": STRING,
            "description": "The row's cells by column header, as they would be imported now "
            "(a dry run's corrections applied).",
        },
        "errors": {
            "type": "array",
            "items": obj({"column": nullable(STRING), "message": STRING}),
            "description": "What is wrong, by column (null: the row as a whole); empty once "
            "corrections fix the row or when it is skipped.",
        },
        "corrected": {
            "type": "object",
            "additionalProperties": STRING,
            "description": "The cells corrected so far, by column header.",
        },
        "skipped": BOOLEAN,
    },
    "A row the import refused (or the dry run would refuse), numbered as in the file.",
)
CORRECTIONS_RESULT = obj(
    {
        "importId": UUID,
        "followUpOf": nullable(UUID),
        "correctedRows": COUNT,
        "rows": {"type": "array", "items": ref("RefusedRow")},
    },
    "Where the corrections are kept (the dry run itself, or the finished import's follow-up, "
    "which `followUpOf` names), how many rows are corrected, and each row sent, validated.",
)


def page(item: str, description: str) -> dict[str, Any]:
    """A page of a newest-first list."""
    return obj(
        {
            "items": {"type": "array", "items": ref(item)},
            "nextCursor": nullable(STRING),
        },
        description + " Pass `nextCursor` as `cursor` for the next page; null on the last one.",
    )


# --- operations ------------------------------------------------------------------------------

ERROR_TEXT = {
    400: "Malformed request: bad JSON, a bad parameter or header, or a file not ready yet.",
    401: "No valid API token (a browser session cookie is not accepted).",
    404: "No such object for this token's tenant (another tenant's looks exactly the same).",
    409: "Not possible in the object's current state (e.g. a rollback already done).",
    410: "The export expired and its file was deleted.",
    413: "The body is larger than the upload limit.",
    415: "The body is not of a type this operation accepts.",
    422: "Values that cannot be used; `details` names each field.",
    429: "Too many requests for this token, or with tokens that are not valid from this address.",
    503: "Storage or the job queue is unreachable; nothing was started.",
}


def error(status: int) -> dict[str, Any]:
    """The response for an error status."""
    response: dict[str, Any] = {
        "description": ERROR_TEXT[status],
        "content": {"application/json": {"schema": ref("Error")}},
    }
    if status == 429:
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before the next request.",
                "required": True,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            }
        }
    return response


def ok(schema_name: str, description: str, status: int = 200) -> dict[str, Any]:
    """A success response."""
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ref(schema_name)}},
    }
    if status == 202:
        response["headers"] = {
            "Location": {
                "description": "Where to poll the job.",
                "required": True,
                "schema": STRING,
            }
        }
    return response


def operation(
    operation_id: str,
    summary: str,
    description: str,
    responses: dict[int, dict[str, Any]],
    errors: tuple[int, ...],
    *,
    tag: str,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One operation, with the errors every authenticated operation can answer."""
    codes = sorted({400, 401, 429, *errors})
    all_responses = {str(k): v for k, v in responses.items()}
    all_responses.update({str(code): error(code) for code in codes})
    op: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "description": description,
        "tags": [tag],
        "responses": dict(sorted(all_responses.items())),
    }
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = body
    return op


def path_id(name: str, what: str) -> dict[str, Any]:
    """A path parameter holding an id."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {what}'s id.",
        "schema": UUID,
    }


IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Any unique string (a UUID is ideal), at most 255 characters: a retried "
    "request with the same key answers the job the first one started instead of starting another.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}
CURSOR = {
    "name": "cursor",
    "in": "query",
    "required": False,
    "description": "The nextCursor of the page before.",
    "schema": STRING,
}
LIMIT = {
    "name": "limit",
    "in": "query",
    "required": False,
    "description": f"Items per page (default {DEFAULT_LIMIT}).",
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
}


def json_body(model: str, required: bool = True) -> dict[str, Any]:
    """A JSON request body described by a component schema."""
    return {"required": required, "content": {"application/json": {"schema": ref(model)}}}


FILE_PART = {"type": "string", "contentMediaType": "application/octet-stream"}
MULTIPART_UPLOAD = {
    "type": "object",
    "properties": {"file": FILE_PART},
    "required": ["file"],
}
MULTIPART_IMPORT = {
    "type": "object",
    "properties": {
        "file": FILE_PART,
        "fieldMapping": {
            "type": "string",
            "description": 'The fieldMapping as JSON text, e.g. {"Email": "email"}.',
        },
        "options": {"type": "string", "description": "The options as JSON text."},
    },
    "required": ["file", "fieldMapping"],
}


def _paths() -> dict[str, Any]:
    job_id = path_id("jobId", "job")
    return {
        "/api/me": {
            "get": operation(
                "getMe",
                "Who the token acts as",
                "The user and tenant of the token, and how many contacts the tenant has.",
                {200: ok("Me", "The token's user and tenant.")},
                (),
                tag="Account",
            )
        },
        "/api/uploads": {
            "post": operation(
                "uploadFile",
                "Upload a file",
                "Store a CSV, TSV, XLSX, JSON or NDJSON file for an import (multipart, streamed "
                "to storage). The file is read first, as the web wizard reads it: an empty, "
                "binary or unreadable file, or one with column names but no rows, is refused "
                "with 422 and not stored. The answer says what was detected (type, encoding, "
                "delimiter, worksheet, columns, about how many rows) and suggests a "
                "fieldMapping with the reason for each column. The fileUrl it answers works "
                "only with this tenant's tokens; a file no import uses is deleted after the "
                "retention (30 days by default).",
                {201: ok("Upload", "The stored file, what was detected and the suggestions.")},
                (413, 415, 422, 503),
                tag="Imports",
                body={
                    "required": True,
                    "content": {"multipart/form-data": {"schema": MULTIPART_UPLOAD}},
                },
            )
        },
        "/api/uploads/presign": {
            "post": operation(
                "presignUpload",
                "Upload a big file straight to S3",
                "When the server stores files in S3, a presigned form to upload a file directly "
                "(up to the upload limit), valid for an hour; 400 when the server stores files "
                "on its own disk. The file goes to S3 without passing through this server, so "
                "nothing is detected or suggested for it: the answer has no `detected` and no "
                "`suggestedMapping`, and a file that cannot be imported is only refused by the "
                "import. For the suggestions, send the file to POST /api/uploads.",
                {200: ok("PresignedUpload", "Where and how to upload.")},
                (413, 415, 422, 503),
                tag="Imports",
                body=json_body("PresignBody"),
            )
        },
        "/api/contacts/import": {
            "post": operation(
                "startImport",
                "Start an import",
                "Import an uploaded file (JSON with its fileUrl) or a file sent with the request "
                "(multipart with `file`, `fieldMapping` and `options` as JSON text). The file "
                "type, encoding, delimiter and worksheet come from the file. The mapping is "
                "checked against the file's columns before anything starts. With "
                "`options.dryRun` nothing is written: poll the job for `dryRun`.",
                {202: ok("ImportResult", "The import was queued.", 202)},
                (413, 415, 422, 503),
                tag="Imports",
                parameters=[IDEMPOTENCY],
                body={
                    "required": True,
                    "content": {
                        "application/json": {"schema": ref("ImportRequestBody")},
                        "multipart/form-data": {"schema": MULTIPART_IMPORT},
                    },
                },
            )
        },
        "/api/contacts/import/{jobId}": {
            "get": operation(
                "getImport",
                "Get an import",
                "Status (pending, processing, completed, failed, cancelled, rolled_back; draft "
                "for a dry run), counts, the first 1,000 errors, the error report and the "
                "rollback.",
                {200: ok("ImportJob", "The import.")},
                (404,),
                tag="Imports",
                parameters=[job_id],
            )
        },
        "/api/contacts/import/{jobId}/rollback": {
            "post": operation(
                "rollbackImport",
                "Roll back an import",
                "Delete the contacts the import created, restore the previous values of those "
                "it updated and remove the tags and segment memberships it added. A contact "
                "changed since the import is kept unless `force` is true. Poll the import for "
                "`rollback`.",
                {202: ok("ImportJob", "The rollback was queued.", 202)},
                (404, 409, 415, 422),
                tag="Imports",
                parameters=[job_id],
                body=json_body("RollbackBody", required=False),
            )
        },
        "/api/contacts/import/{jobId}/errors": {
            "get": operation(
                "listImportErrors",
                "List an import's refused rows",
                "The rows a finished import refused, or that a dry run would refuse, in the "
                "order of the file, each with its cells and what is wrong. Correct them with "
                "POST .../corrections.",
                {200: ok("RefusedRowPage", "A page of refused rows.")},
                (404, 409),
                tag="Imports",
                parameters=[job_id, CURSOR, LIMIT],
            )
        },
        "/api/contacts/import/{jobId}/corrections": {
            "post": operation(
                "correctImportRows",
                "Correct refused rows",
                "New values for cells of refused rows (by column header), or rows to skip; each "
                "row comes back validated as the import validates it. A dry run keeps its "
                "corrections and applies them when it is imported; a finished import's go to "
                "its follow-up import (made on the first call), started with POST "
                ".../follow-up. The uploaded file is never changed.",
                {200: ok("CorrectionsResult", "The corrections were saved.")},
                (404, 409, 413, 415, 422),
                tag="Imports",
                parameters=[job_id],
                body=json_body("CorrectionsBody"),
            )
        },
        "/api/contacts/import/{jobId}/follow-up": {
            "post": operation(
                "startFollowUpImport",
                "Import the corrected rows",
                "Start the follow-up of a finished import: only its corrected rows, with the "
                "same file, mapping and options, as an import of their own (own journal and "
                "rollback). Poll it at the Location.",
                {202: ok("ImportResult", "The follow-up import was queued.", 202)},
                (404, 409),
                tag="Imports",
                parameters=[job_id],
            )
        },
        "/api/contacts/import/{jobId}/cancel": {
            "post": operation(
                "cancelImport",
                "Cancel an import",
                "A waiting import is cancelled at once; a running one stops after the batch it "
                "is writing (what was written stays and can be rolled back).",
                {202: ok("ImportJob", "The import is cancelled or stopping.", 202)},
                (404, 409),
                tag="Imports",
                parameters=[job_id],
            )
        },
        "/api/contacts/imports": {
            "get": operation(
                "listImports",
                "List imports",
                "The tenant's imports, newest first.",
                {200: ok("ImportPage", "A page of imports.")},
                (),
                tag="Imports",
                parameters=[CURSOR, LIMIT],
            )
        },
        "/api/contacts/export": {
            "post": operation(
                "startExport",
                "Start an export",
                "Export all contacts, those matching `filters`, or a segment (`segmentId`, which "
                "filters can narrow), with the fields in the order given. An empty body exports "
                "every contact as CSV with the default fields.",
                {202: ok("ExportAccepted", "The export was queued.", 202)},
                (413, 415, 422, 503),
                tag="Exports",
                parameters=[IDEMPOTENCY],
                body=json_body("ExportOptionsBody", required=False),
            )
        },
        "/api/contacts/export/{jobId}": {
            "get": operation(
                "getExport",
                "Get an export",
                "Status, progress and when the file expires.",
                {200: ok("ExportJob", "The export.")},
                (404,),
                tag="Exports",
                parameters=[job_id],
            )
        },
        "/api/contacts/export/{jobId}/download": {
            "get": operation(
                "downloadExport",
                "Get a download link",
                "A link to the file, valid for 5 minutes. 400 while the export is not finished "
                "(or failed), 410 once it expired.",
                {200: ok("DownloadLink", "The link.")},
                (404, 410),
                tag="Exports",
                parameters=[job_id],
            )
        },
        "/api/contacts/exports": {
            "get": operation(
                "listExports",
                "List exports",
                "The tenant's exports, newest first.",
                {200: ok("ExportPage", "A page of exports.")},
                (),
                tag="Exports",
                parameters=[CURSOR, LIMIT],
            )
        },
        "/api/contacts": {
            "get": operation(
                "listContacts",
                "List contacts",
                "The tenant's contacts, newest first, optionally only those with an email, a "
                "tag or in a segment (to check what an import did).",
                {200: ok("ContactPage", "A page of contacts.")},
                (),
                tag="Contacts",
                parameters=[
                    {
                        "name": "email",
                        "in": "query",
                        "required": False,
                        "description": "Only the contact with this email (case does not matter).",
                        "schema": STRING,
                    },
                    {
                        "name": "tag",
                        "in": "query",
                        "required": False,
                        "description": "Only contacts with this tag (case does not matter).",
                        "schema": STRING,
                    },
                    {
                        "name": "segmentId",
                        "in": "query",
                        "required": False,
                        "description": "Only contacts in this segment.",
                        "schema": UUID,
                    },
                    CURSOR,
                    LIMIT,
                ],
            )
        },
        "/api/contacts/{contactId}": {
            "get": operation(
                "getContact",
                "Get a contact",
                "One contact.",
                {200: ok("Contact", "The contact.")},
                (404,),
                tag="Contacts",
                parameters=[path_id("contactId", "contact")],
            )
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This description",
                "description": "The OpenAPI 3.1 description of the API (no token needed).",
                "tags": ["Account"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "The description.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


@cache
def _document() -> dict[str, Any]:
    components: dict[str, Any] = {
        "Error": ERROR,
        "RowError": ROW_ERROR,
        "ImportResult": IMPORT_RESULT,
        "ImportJob": IMPORT_JOB,
        "ImportSummary": IMPORT_SUMMARY,
        "ImportOptionsUsed": IMPORT_OPTIONS_OUT,
        "Rollback": ROLLBACK,
        "DryRun": DRY_RUN,
        "ImportPage": page("ImportSummary", "Imports, newest first."),
        "RefusedRow": REFUSED_ROW,
        "RefusedRowPage": obj(
            {
                "items": {"type": "array", "items": ref("RefusedRow")},
                "nextCursor": nullable(STRING),
            },
            "Refused rows in the order of the file. Pass `nextCursor` as `cursor` for the next "
            "page; null on the last one.",
        ),
        "CorrectionsResult": CORRECTIONS_RESULT,
        "ExportJob": EXPORT_JOB,
        "ExportAccepted": obj({"jobId": UUID}, "The export's id."),
        "ExportPage": page("ExportJob", "Exports, newest first."),
        "DownloadLink": DOWNLOAD,
        "Contact": CONTACT,
        "ContactPage": page("Contact", "Contacts, newest first."),
        "Upload": UPLOAD,
        "UploadDetected": DETECTED,
        "MappingSuggestion": SUGGESTION,
        "PresignedUpload": PRESIGNED_UPLOAD,
        "Me": ME,
    }
    for model in (
        schemas.ImportRequestBody,
        schemas.RollbackBody,
        schemas.CorrectionsBody,
        schemas.PresignBody,
        schemas.ExportOptionsBody,
    ):
        schema, definitions = schemas.json_schema(model)
        components[model.__name__] = schema
        components.update(definitions)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "contacts-io API",
            "version": "1.0.0",
            "description": "Import and export a tenant's contacts with the engine the web app "
            "uses. Every call but this description needs `Authorization: Bearer <token>` "
            "(make one with `flask --app wsgi tokens create --email you@example.com`); a "
            'browser session is not accepted. Errors are `{"error": "...", "details": '
            '[{"field": ..., "message": ...}]}`. Requests are limited per token, and tokens '
            "that are not valid per client address; over a limit the answer is 429 with "
            "Retry-After.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [
            {"name": "Imports", "description": "Upload files, import them, roll them back."},
            {"name": "Exports", "description": "Export contacts to CSV, XLSX, JSON or NDJSON."},
            {"name": "Contacts", "description": "Read contacts."},
            {"name": "Account", "description": "The token and this description."},
        ],
        "paths": _paths(),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from `flask --app wsgi tokens create`.",
                }
            },
        },
    }


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document (a fresh copy, safe to change)."""
    return copy.deepcopy(_document())
