"""Follow-up imports: the refused rows of a finished import, corrected and imported on their own.

"Fix the N refused rows" makes a draft that follows up the import: same uploaded file, same
mapping and options, and the first import's refused rows recorded for the review table (from
its `ImportRowError`s, validated again so each problem has its code). Starting it imports only
the rows a person corrected, with their row numbers in the file, into a journal of its own: each
import's rollback undoes exactly its own changes.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.imports.bulk import insert_rows
from app.imports.corrections import Corrections, load_corrections
from app.imports.dry_run_result import DryRunResult
from app.imports.options import ImportOptions
from app.imports.refused_rows import keys_text, problem_key, problems_of
from app.imports.review import new_validator_for
from app.imports.validation import CleanRow, RowError
from app.imports.wizard_state import WizardState
from app.models import Correction, ImportJob, ImportRowError, RefusedRow
from app.models.jobs import ImportStatus, RunStatus

FOLLOWED_UP = (ImportStatus.COMPLETED, ImportStatus.CANCELLED, ImportStatus.FAILED)


class NothingToFollowUp(Exception):
    """The import has no refused rows to fix, or cannot be followed up (yet)."""


def follow_up_of(job: ImportJob) -> ImportJob | None:
    """The import's follow-up: a draft being corrected, or one started and not rolled back."""
    return db.session.scalar(
        select(ImportJob)
        .where(ImportJob.follow_up_of == job.id, ImportJob.status != ImportStatus.ROLLED_BACK)
        .order_by(ImportJob.created_at.desc())
        .limit(1)
    )


def can_follow_up(job: ImportJob) -> bool:
    """True when the import ended with refused rows, its file is kept, nothing follows it up
    yet and no rollback of it was asked for."""
    return (
        job.status in FOLLOWED_UP
        and bool(job.error_count)
        and bool(job.file_url)
        and job.rollback_status is None
        and follow_up_of(job) is None
    )


def why_not_startable(first: ImportJob | None) -> str | None:
    """Why a follow-up of this import cannot start now (None: it can)."""
    if first is None or first.status not in FOLLOWED_UP or first.rollback_status is not None:
        return "The import these rows came from was rolled back (or is being rolled back)."
    if not first.file_url:
        return "The file of the import these rows came from was deleted (files are kept 30 days)."
    return None


def open_follow_up(job: ImportJob, user_id: uuid.UUID | None, commit: bool = True) -> ImportJob:
    """The draft that fixes the import's refused rows, made (with its rows) if there is none.

    `commit=False` leaves a new draft in the caller's transaction (and the import's row locked
    until it ends): the API makes it with the corrections it was sent, or not at all."""
    # the import's row locked: two tabs (or API calls) at once make one follow-up, not two
    db.session.execute(select(ImportJob.id).where(ImportJob.id == job.id).with_for_update())
    existing = follow_up_of(job)
    if existing is not None:
        return existing
    if job.status not in FOLLOWED_UP or not job.error_count:
        raise NothingToFollowUp("This import has no refused rows to fix.")
    reason = why_not_startable(job)
    if reason:
        raise NothingToFollowUp(reason)
    options = ImportOptions.from_dict(job.import_options or {})
    stored = job.import_options or {}
    headers = stored.get("source_headers") or WizardState.of(job).headers
    if not headers:
        raise NothingToFollowUp("This import does not say which columns its file had.")
    draft = ImportJob(
        tenant_id=job.tenant_id,
        workspace_id=job.workspace_id,
        file_name=job.file_name,
        file_size=job.file_size,
        file_url=job.file_url,
        file_type=job.file_type,
        field_mapping=job.field_mapping,
        status=ImportStatus.DRAFT,
        created_by=user_id,
        follow_up_of=job.id,
        total_rows=job.total_rows,
        import_options={
            **options.to_dict(),
            "row_label": job.row_label,
            "wizard": WizardState(
                headers=list(headers),
                row_label=job.row_label,
                reached="confirm",
                dry_run_for=options.fingerprint(),
            ).to_dict(),
        },
        dry_run_status=RunStatus.COMPLETED,
    )
    db.session.add(draft)
    db.session.flush()
    problems = _record_refused_rows(job, draft, options, headers)
    draft.dry_run = DryRunResult.from_import(headers, dict(problems.most_common())).to_stored()
    if commit:
        db.session.commit()
    return draft


def _record_refused_rows(
    job: ImportJob, draft: ImportJob, options: ImportOptions, headers: list[str]
) -> Counter[str]:
    """The first import's refused rows as the draft's review rows; the problems counted."""
    validator = new_validator_for(headers, job.row_label, options, options.targets(), job.tenant_id)
    rows: dict[int, tuple[list[str], list[RowError]]] = {}
    for number, column, value, message, raw in db.session.execute(
        select(
            ImportRowError.row_number,
            ImportRowError.column,
            ImportRowError.value,
            ImportRowError.message,
            ImportRowError.raw,
        )
        .where(ImportRowError.import_job_id == job.id)
        .order_by(ImportRowError.row_number, ImportRowError.id)
    ):
        stored = RowError(
            number, column, value or "", message, "invalid" if column else "unreadable"
        )
        rows.setdefault(number, (list(raw or []), []))[1].append(stored)
    found: Counter[str] = Counter()
    records: list[dict[str, Any]] = []
    for number, (cells, stored_errors) in rows.items():
        result = validator.validate(number, cells)
        # validated again for the problems' codes; a row refused for a reason the cells alone do
        # not show (it could not be read) keeps the message it was refused with
        errors = stored_errors if isinstance(result, CleanRow) else result
        read_error = next((e.message for e in stored_errors if e.code == "unreadable"), None)
        if read_error and errors is not stored_errors:
            errors = [*errors, RowError(number, None, "", read_error, "unreadable")]
        found.update({problem_key(e.column, e.code) for e in errors})
        keys = keys_text(errors)
        records.append(
            {
                "import_job_id": draft.id,
                "row_number": number,
                "cells": cells,
                "problems": problems_of(errors, headers),
                "problem_keys": keys,
                "found_keys": keys,
                "read_error": read_error,
            }
        )
    insert_rows(db.session.connection(), RefusedRow.__table__, records)
    return found


def corrected_row_numbers(job_id: uuid.UUID) -> frozenset[int]:
    """The rows a follow-up imports: those corrected until nothing is wrong, unless skipped."""
    skipped = select(Correction.row_number).where(
        Correction.import_job_id == job_id, Correction.column_index == Correction.SKIP_ROW
    )
    fixed = select(RefusedRow.row_number).where(
        RefusedRow.import_job_id == job_id, RefusedRow.problem_keys == ""
    )
    return frozenset(
        db.session.scalars(
            select(Correction.row_number)
            .where(
                Correction.import_job_id == job_id,
                Correction.column_index != Correction.SKIP_ROW,
                Correction.row_number.not_in(skipped),
                Correction.row_number.in_(fixed),
            )
            .distinct()
        )
    )


def corrections_with_earlier(job: ImportJob) -> Corrections:
    """A follow-up's corrections over those of the imports it follows up: the rows it shows
    are the rows as the first import read them (with that import's own corrections)."""
    chain: list[uuid.UUID] = []
    current: ImportJob | None = job
    while current is not None and len(chain) < 100:
        chain.append(current.id)
        current = db.session.get(ImportJob, current.follow_up_of) if current.follow_up_of else None
    merged: Corrections = {}
    for job_id in reversed(chain):
        for row, fix in load_corrections(job_id).items():
            before = merged.get(row)
            merged[row] = None if fix is None else {**(before or {}), **fix}
    return merged
