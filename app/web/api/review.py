"""The API's refused rows: list them, correct them, import the corrected ones as a follow-up.

    GET  /api/contacts/import/{jobId}/errors       refused rows with their cells and messages
    POST /api/contacts/import/{jobId}/corrections  corrected cells / skipped rows, validated
    POST /api/contacts/import/{jobId}/follow-up    import the corrected rows of a finished import

A finished import's corrections go to its follow-up (made on the first call); a dry run's (a
draft's) to the draft itself, applied when it is imported.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from flask import g, jsonify
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.extensions import db
from app.imports.follow_up import (
    FOLLOWED_UP,
    NothingToFollowUp,
    corrected_row_numbers,
    follow_up_of,
    open_follow_up,
    why_not_startable,
)
from app.imports.review import Reviewer, ReviewRow, reviewer_for
from app.jobs.queue import QUEUE_ERRORS
from app.jobs.submit import enqueue_import
from app.models import ImportJob, ImportRowError, ImportStatus
from app.tenancy import get_scoped_or_404
from app.web.api import responses
from app.web.api.errors import ApiError, field_error
from app.web.api.pagination import page_limit
from app.web.api.schemas import CorrectionsBody
from app.web.api.views import _accepted, _json_body, bp


def _encode(row: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(["row", row]).encode()).decode().rstrip("=")


def _after() -> int:
    """The row number a cursor names (0 without one)."""
    from flask import request

    raw = request.args.get("cursor")
    if not raw:
        return 0
    try:
        kind, row = json.loads(base64.urlsafe_b64decode((raw + "=" * (-len(raw) % 4)).encode()))
        if kind != "row" or not isinstance(row, int) or not 0 <= row < 2**31:
            raise ValueError(row)
        return row
    except (ValueError, TypeError, UnicodeError, binascii.Error, RecursionError):
        raise field_error(
            400, "cursor", "cursor is not one this API gave out: use nextCursor as it came."
        ) from None


def _row_out(row: ReviewRow, columns: list[tuple[int, str]]) -> dict[str, Any]:
    errors: list[dict[str, str | None]] = [
        {"column": header, "message": message}
        for index, header in columns
        for message in row.problems.get(index, [])
    ]
    errors += [{"column": None, "message": message} for message in row.row_problems]
    return {
        "rowNumber": row.number,
        "cells": {header: row.cells.get(index, "") for index, header in columns},
        "errors": [] if row.skipped else errors,
        "corrected": {h: row.cells[i] for i, h in columns if row.corrected(i)},
        "skipped": row.skipped,
    }


def _draft_reviewer(job: ImportJob) -> Reviewer:
    reviewer = reviewer_for(job)
    if reviewer is None:
        raise ApiError(409, "This dry run has not finished: its refused rows are not known yet.")
    return reviewer


@bp.get("/contacts/import/<job_id>/errors")
def import_errors(job_id: str) -> Any:
    """The rows an import refused (or a dry run would refuse), in row order, with their cells."""
    job = get_scoped_or_404(ImportJob, job_id)
    limit, after = page_limit(), _after()
    if job.status == ImportStatus.DRAFT:
        reviewer = _draft_reviewer(job)
        page = reviewer.page(after=after, size=limit)
        items = [_row_out(r, reviewer.columns) for r in page.rows]
        cursor = _encode(page.next_after) if page.next_after else None
        return jsonify(items=items, nextCursor=cursor)
    numbers = list(
        db.session.scalars(
            select(ImportRowError.row_number)
            .where(ImportRowError.import_job_id == job.id, ImportRowError.row_number > after)
            .group_by(ImportRowError.row_number)
            .order_by(ImportRowError.row_number)
            .limit(limit + 1)
        )
    )
    more, numbers = len(numbers) > limit, numbers[:limit]
    headers = (job.import_options or {}).get("source_headers") or []
    rows: dict[int, dict[str, Any]] = {}
    for number, column, message, raw in db.session.execute(
        select(
            ImportRowError.row_number,
            ImportRowError.column,
            ImportRowError.message,
            ImportRowError.raw,
        )
        .where(ImportRowError.import_job_id == job.id, ImportRowError.row_number.in_(numbers))
        .order_by(ImportRowError.row_number, ImportRowError.id)
    ):
        cells = list(raw or [])
        item = rows.setdefault(
            number,
            {
                "rowNumber": number,
                "cells": {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(headers)},
                "errors": [],
                "corrected": {},
                "skipped": False,
            },
        )
        item["errors"].append({"column": column, "message": message})
    items = [rows[n] for n in numbers]
    return jsonify(items=items, nextCursor=_encode(numbers[-1]) if more else None)


def _corrections_target(job: ImportJob) -> ImportJob:
    """Where a job's corrections are kept: the draft itself, or a finished import's follow-up."""
    if job.status == ImportStatus.DRAFT:
        return job
    if job.status not in FOLLOWED_UP:
        raise ApiError(409, "Only a finished import's refused rows can be corrected.")
    try:
        # in this request's transaction: refused corrections leave no empty follow-up behind
        target = open_follow_up(job, g.api_user.id, commit=False)
    except NothingToFollowUp as exc:
        raise ApiError(409, str(exc)) from None
    if target.status != ImportStatus.DRAFT:
        raise ApiError(
            409, f"The refused rows were already imported by the follow-up import {target.id}."
        )
    return target


@bp.post("/contacts/import/<job_id>/corrections")
def correct_rows(job_id: str) -> Any:
    """Correct cells of refused rows (or skip rows); each row comes back validated."""
    job = get_scoped_or_404(ImportJob, job_id)
    body = _json_body(CorrectionsBody)
    unlocked = _corrections_target(job)
    # locked: a follow-up started meanwhile (or the draft imported) refuses the corrections
    target = db.session.scalar(
        select(ImportJob)
        .where(ImportJob.id == unlocked.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if target is None or target.status != ImportStatus.DRAFT:
        db.session.rollback()
        raise ApiError(409, "The import has started: corrections can no longer change it.")
    reviewer = _draft_reviewer(target)
    columns = {header: index for index, header in reviewer.columns}
    details = []
    for i, row in enumerate(body.rows):
        for header in row.cells:
            if header not in columns:
                details.append(
                    {
                        "field": f"rows[{i}].cells",
                        "message": f"'{header}' is not a mapped column of this file.",
                    }
                )
    if details:
        db.session.rollback()
        raise ApiError(422, "Some corrections name columns the import does not read.", details)
    saved = []
    for i, row in enumerate(body.rows):
        cells = {columns[h]: v for h, v in row.cells.items()}
        result = reviewer.save(row.row_number, cells, row.skip)
        if result is None:
            db.session.rollback()
            raise field_error(
                422,
                f"rows[{i}].rowNumber",
                f"Row {row.row_number} was not refused: nothing to fix.",
            )
        saved.append(_row_out(result, reviewer.columns))
    db.session.commit()
    return jsonify(
        importId=str(target.id),
        followUpOf=str(target.follow_up_of) if target.follow_up_of else None,
        correctedRows=len(corrected_row_numbers(target.id)),
        rows=saved,
    )


@bp.post("/contacts/import/<job_id>/follow-up")
def start_follow_up(job_id: str) -> Response:
    """Import the corrected rows of a finished import, as a follow-up with its own rollback."""
    job = get_scoped_or_404(ImportJob, job_id)
    target = follow_up_of(job) if job.status in FOLLOWED_UP else None
    if target is not None and target.status != ImportStatus.DRAFT:
        raise ApiError(409, f"The corrected rows were already imported by {target.id}.")
    if target is None:
        raise ApiError(409, "Correct rows first (POST .../corrections): nothing waits to import.")
    reason = why_not_startable(job)
    if reason:
        raise ApiError(409, reason)
    target = db.session.scalar(select(ImportJob).where(ImportJob.id == target.id).with_for_update())
    if target is None or target.status != ImportStatus.DRAFT:
        db.session.rollback()
        raise ApiError(409, "The follow-up import has already started.")
    if not corrected_row_numbers(target.id):
        db.session.rollback()
        raise ApiError(409, "No row is fixed yet: only the rows corrections fixed are imported.")
    try:
        enqueue_import(target)
    except QUEUE_ERRORS:
        # committed as pending: the scheduler queues it again when Redis is back
        db.session.rollback()
    db.session.refresh(target)
    return _accepted(responses.import_result(target), target)
