"""The document's paths: each operation's summary, description, parameters and answers.

The schemas the answers and bodies name are components generated from the pydantic models
(`response_models.py`, `schemas.py`); only the prose and the multipart forms are written here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from app.web.api import response_models as answers
from app.web.api import schemas
from app.web.api.pagination import DEFAULT_LIMIT, MAX_LIMIT

REF = "#/components/schemas/"
STRING = {"type": "string"}
UUID = {"type": "string", "format": "uuid"}


def of(model: type[BaseModel]) -> dict[str, str]:
    """A reference to the component schema generated from `model`."""
    return {"$ref": REF + model.__name__}


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
        "content": {"application/json": {"schema": of(answers.Error)}},
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


def ok(model: type[BaseModel], description: str, status: int = 200) -> dict[str, Any]:
    """A success response whose body `model` describes."""
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": of(model)}},
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


def listing(
    operation_id: str,
    summary: str,
    description: str,
    page: type[BaseModel],
    items: str,
    *,
    tag: str,
    filters: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    """A GET of a page of the tenant's `items`, optionally filtered, paged by cursor."""
    return {
        "get": operation(
            operation_id,
            summary,
            description,
            {200: ok(page, f"A page of {items}.")},
            (),
            tag=tag,
            parameters=[*filters, CURSOR, LIMIT],
        )
    }


def parameter(
    where: str, name: str, description: str, schema: dict[str, Any], required: bool = False
) -> dict[str, Any]:
    """An operation's parameter `where` ("path", "query" or "header")."""
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema,
    }


def path_id(name: str, what: str) -> dict[str, Any]:
    """A path parameter holding an id."""
    return parameter("path", name, f"The {what}'s id.", UUID, required=True)


IDEMPOTENCY = parameter(
    "header",
    "Idempotency-Key",
    "Any unique string (a UUID is ideal), at most 255 characters: a retried request with the "
    "same key answers the job the first one started instead of starting another.",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
)
CURSOR = parameter("query", "cursor", "The nextCursor of the page before.", STRING)
LIMIT = parameter(
    "query",
    "limit",
    f"Items per page (default {DEFAULT_LIMIT}).",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
)


def json_body(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    """A JSON request body that `model` validates."""
    return {"required": required, "content": {"application/json": {"schema": of(model)}}}


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


def paths() -> dict[str, Any]:
    """Every path of the API and its operations."""
    job_id = path_id("jobId", "job")
    return {
        "/api/me": {
            "get": operation(
                "getMe",
                "Who the token acts as",
                "The user and tenant of the token, and how many contacts the tenant has.",
                {200: ok(answers.Me, "The token's user and tenant.")},
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
                {
                    201: ok(
                        answers.Upload, "The stored file, what was detected and the suggestions."
                    )
                },
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
                {200: ok(answers.PresignedUpload, "Where and how to upload.")},
                (413, 415, 422, 503),
                tag="Imports",
                body=json_body(schemas.PresignBody),
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
                {202: ok(answers.ImportResult, "The import was queued.", 202)},
                (413, 415, 422, 503),
                tag="Imports",
                parameters=[IDEMPOTENCY],
                body={
                    "required": True,
                    "content": {
                        "application/json": {"schema": of(schemas.ImportRequestBody)},
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
                {200: ok(answers.ImportJob, "The import.")},
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
                {202: ok(answers.ImportJob, "The rollback was queued.", 202)},
                (404, 409, 415, 422),
                tag="Imports",
                parameters=[job_id],
                body=json_body(schemas.RollbackBody, required=False),
            )
        },
        "/api/contacts/import/{jobId}/errors": {
            "get": operation(
                "listImportErrors",
                "List an import's refused rows",
                "The rows a finished import refused, or that a dry run would refuse, in the "
                "order of the file, each with its cells and what is wrong. Correct them with "
                "POST .../corrections.",
                {200: ok(answers.RefusedRowPage, "A page of refused rows.")},
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
                {200: ok(answers.CorrectionsResult, "The corrections were saved.")},
                (404, 409, 413, 415, 422),
                tag="Imports",
                parameters=[job_id],
                body=json_body(schemas.CorrectionsBody),
            )
        },
        "/api/contacts/import/{jobId}/follow-up": {
            "post": operation(
                "startFollowUpImport",
                "Import the corrected rows",
                "Start the follow-up of a finished import: only its corrected rows, with the "
                "same file, mapping and options, as an import of their own (own journal and "
                "rollback). Poll it at the Location.",
                {202: ok(answers.ImportResult, "The follow-up import was queued.", 202)},
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
                {202: ok(answers.ImportJob, "The import is cancelled or stopping.", 202)},
                (404, 409),
                tag="Imports",
                parameters=[job_id],
            )
        },
        "/api/contacts/imports": listing(
            "listImports",
            "List imports",
            "The tenant's imports, newest first.",
            answers.ImportPage,
            "imports",
            tag="Imports",
        ),
        "/api/contacts/export": {
            "post": operation(
                "startExport",
                "Start an export",
                "Export all contacts, those matching `filters`, or a segment (`segmentId`, which "
                "filters can narrow), with the fields in the order given. An empty body exports "
                "every contact as CSV with the default fields.",
                {202: ok(answers.ExportAccepted, "The export was queued.", 202)},
                (413, 415, 422, 503),
                tag="Exports",
                parameters=[IDEMPOTENCY],
                body=json_body(schemas.ExportOptionsBody, required=False),
            )
        },
        "/api/contacts/export/{jobId}": {
            "get": operation(
                "getExport",
                "Get an export",
                "Status, progress and when the file expires.",
                {200: ok(answers.ExportJob, "The export.")},
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
                {200: ok(answers.DownloadLink, "The link.")},
                (404, 410),
                tag="Exports",
                parameters=[job_id],
            )
        },
        "/api/contacts/exports": listing(
            "listExports",
            "List exports",
            "The tenant's exports, newest first.",
            answers.ExportPage,
            "exports",
            tag="Exports",
        ),
        "/api/contacts": listing(
            "listContacts",
            "List contacts",
            "The tenant's contacts, newest first, optionally only those with an email, a "
            "tag or in a segment (to check what an import did).",
            answers.ContactPage,
            "contacts",
            tag="Contacts",
            filters=(
                parameter(
                    "query",
                    "email",
                    "Only the contact with this email (case does not matter).",
                    STRING,
                ),
                parameter(
                    "query", "tag", "Only contacts with this tag (case does not matter).", STRING
                ),
                parameter("query", "segmentId", "Only contacts in this segment.", UUID),
            ),
        ),
        "/api/contacts/{contactId}": {
            "get": operation(
                "getContact",
                "Get a contact",
                "One contact.",
                {200: ok(answers.Contact, "The contact.")},
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
