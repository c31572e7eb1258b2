"""A draft import, the wizard's and the API's dry runs: start one from an upload, read its file
again with other settings, store its mapping and options, tell whether its dry run is current,
prepare its dry run or its import for the queue, discard it.

A draft is an `ImportJob` with status "draft". Its `import_options` hold the `ImportOptions` the
engine reads, plus the `WizardState` the pages need between requests (`wizard_state.py`). The
tenant is the job's own, or passed in: nothing here reads the signed-in user. Queueing is
`app.jobs.submit`'s (`queue_dry_run`, `queue_draft_import`), which calls `prepare_*` here first.
"""

from __future__ import annotations

import logging
import uuid
from typing import BinaryIO

from sqlalchemy import delete, select

from app.extensions import db
from app.imports.draft_mapping import MappingDraft, custom_fields, mapping_of, suggest
from app.imports.mapping import parse_target, rule_name
from app.imports.named_objects import NewField, create_custom_fields
from app.imports.options import ImportOptions, OptionsError
from app.imports.parsing import SourceRow
from app.imports.refused_rows import forget_refused
from app.imports.service import create_import_job, file_in_use, storage
from app.imports.uploads import (
    SAMPLE_ROWS,
    FileFacts,
    analyze_file,
    apply_facts,
    receive_upload,
    stored_copy,
)
from app.imports.wizard_state import WizardState, options_of
from app.models import Correction, ImportJob
from app.models.jobs import ImportStatus, RunStatus
from app.storage import StorageError

SAMPLE_CELL_CHARS = 4000
DASHBOARD_DRAFTS = 10

log = logging.getLogger(__name__)


def save(job: ImportJob, options: ImportOptions, state: WizardState) -> None:
    """Store options and state on the draft; a dry run of other options no longer counts."""
    stale = _options_checked(state) != options.fingerprint()
    if stale and job.dry_run_status in (RunStatus.COMPLETED, RunStatus.FAILED):
        job.dry_run_status = None
        job.dry_run = None
    job.import_options = {**options.to_dict(), "wizard": state.to_dict()}
    job.field_mapping = dict(options.field_mapping)
    job.file_type = options.file_type
    db.session.commit()


def _read_facts(state: WizardState, facts: FileFacts) -> None:
    """Keep what was found in the file: headers, first rows (cut short), size, sheets."""
    state.headers = list(facts.info.headers)
    state.sample = [
        SourceRow(row.line, [value[:SAMPLE_CELL_CHARS] for value in row.values], row.error)
        for row in facts.sample[:SAMPLE_ROWS]
    ]
    state.row_estimate = facts.row_estimate
    state.sheets = list(facts.info.sheets)
    state.json_format = facts.info.json_format
    state.row_label = facts.info.row_label


# --- step 1: upload and file settings --------------------------------------------------------


def start_draft(
    tenant_id: uuid.UUID, user_id: uuid.UUID, upload_stream: BinaryIO, raw_name: str | None
) -> ImportJob:
    """Check an uploaded file, store it, and commit a draft import with suggested mapping."""
    upload = receive_upload(tenant_id, upload_stream, raw_name)
    facts = upload.facts
    options = ImportOptions(file_name=upload.file_name, file_key=upload.key)
    apply_facts(options, facts)
    state = WizardState(reached="file")
    _read_facts(state, facts)
    state.detected = {
        "file_type": facts.info.file_type,
        "encoding": facts.info.encoding,
        "delimiter": facts.info.delimiter,
        "sheet": facts.info.sheet,
    }
    suggest(tenant_id, options, state, facts.sample)
    job = create_import_job(
        tenant_id, options, user_id=user_id, file_size=upload.size, status=ImportStatus.DRAFT
    )
    save(job, options, state)
    return job


def reread(
    job: ImportJob,
    file_type: str | None,
    encoding: str | None,
    delimiter: str | None,
    sheet: str | None,
) -> int:
    """Read the stored file again with other settings; a new set of headers resets the mapping.

    Returns how many corrections of the review it dropped (they named rows and columns of the
    file as read before)."""
    options, state = options_of(job), WizardState.of(job)
    with stored_copy(job.file_url or "") as path:
        facts = analyze_file(
            path,
            options.file_name,
            file_type=file_type,
            encoding=encoding,
            delimiter=delimiter,
            sheet=sheet,
        )
    headers_changed = list(facts.info.headers) != state.headers
    apply_facts(options, facts)
    _read_facts(state, facts)
    if headers_changed:
        suggest(job.tenant_id, options, state, facts.sample)
    dropped = forget_corrections(job)  # made for the rows as the file was read before
    if dropped:
        state.corrections = 0
    save(job, options, state)
    return dropped


def forget_corrections(job: ImportJob) -> int:
    """Drop a draft's corrections and recorded rows: a row number and a column position name
    other cells once the file is read with another sheet, encoding, delimiter or type."""
    result = db.session.execute(delete(Correction).where(Correction.import_job_id == job.id))
    forget_refused(job.id)
    return int(getattr(result, "rowcount", 0) or 0)


def reach(job: ImportJob, step: str) -> None:
    """Store that the user got to `step` (the options as they are)."""
    state = WizardState.of(job)
    state.reach(step)
    save(job, options_of(job), state)


# --- step 2 and 3: mapping and options ------------------------------------------------------


def save_mapping(job: ImportJob, draft: MappingDraft, advance: bool = False) -> None:
    """Store the mapping step's choices (valid or not); `advance` marks the step done."""
    options, state = options_of(job), WizardState.of(job)
    options.field_mapping = draft.specs
    state.choices, state.new_fields = draft.choices, draft.new_fields
    known = {rule_name(parse_target(spec)) for spec in draft.specs.values()}
    options.field_rules = {k: v for k, v in options.field_rules.items() if k in known}
    if advance:
        state.reach("options")
    save(job, options, state)


def save_options(job: ImportJob, options: ImportOptions, advance: bool = False) -> None:
    """Store the options step's options; `advance` marks the step done."""
    state = WizardState.of(job)
    if advance:
        state.reach("confirm")
    save(job, options, state)


def options_problems(job: ImportJob) -> list[str]:
    """Every reason the import cannot start as it stands."""
    options, state = options_of(job), WizardState.of(job)
    mapping = mapping_of(job)
    problems = list(mapping.row_errors.values()) + mapping.problems
    try:
        options.check(state.headers)
    except OptionsError as exc:
        problems.extend(p for p in exc.problems if p not in problems)
    return problems


# --- step 4: dry run, corrections, start ------------------------------------------------------


def checked_for(options: ImportOptions, state: WizardState) -> str:
    """What a dry run is made for: the options, and how many times corrections were saved."""
    fingerprint = options.fingerprint()
    return f"{fingerprint}/{state.corrections}" if state.corrections else fingerprint


def _options_checked(state: WizardState) -> str:
    return (state.dry_run_for or "").split("/")[0]


def dry_run_is_current(job: ImportJob) -> bool:
    """True when the stored dry run was made for the options and corrections as they are now."""
    state = WizardState.of(job)
    return job.dry_run_status is not None and state.dry_run_for == checked_for(
        options_of(job), state
    )


def corrections_changed_only(job: ImportJob) -> bool:
    """True when the finished dry run is for these options, only rows were corrected since."""
    return (
        job.dry_run_status == RunStatus.COMPLETED
        and _options_checked(WizardState.of(job)) == options_of(job).fingerprint()
    )


def corrections_saved(job: ImportJob) -> None:
    """Note that rows were corrected: the dry run's counts no longer say what the import does."""
    state = WizardState.of(job)
    state.corrections += 1
    state.store_on(job)


def prepare_dry_run(job: ImportJob) -> bool:
    """Mark a dry run pending for the current options; False when one is running for them
    already (nothing to queue). The caller queues it (`app.jobs.submit.queue_dry_run`)."""
    options, state = options_of(job), WizardState.of(job)
    current = checked_for(options, state)
    if (
        job.dry_run_status in (RunStatus.PENDING, RunStatus.PROCESSING)
        and state.dry_run_for == current
    ):
        return False
    state.dry_run_for = current
    job.import_options = {**options.to_dict(), "wizard": state.to_dict()}
    job.dry_run_status = RunStatus.PENDING
    job.dry_run = None
    return True


def prepare_import(job: ImportJob) -> None:
    """Create the custom fields named in the mapping step, ready for the import to be queued
    (`app.jobs.submit.queue_draft_import`)."""
    options, state = options_of(job), WizardState.of(job)
    custom = custom_fields(job.tenant_id)
    declared: list[NewField] = []
    for header, spec in options.field_mapping.items():
        target = parse_target(spec)
        if target.kind == "custom" and target.custom_type and target.key not in custom:
            label = state.new_fields.get(header, {}).get("name") or header
            declared.append(NewField(str(target.key), label, target.custom_type))
    # a colleague's import may create the same field first: it is then used as it is
    create_custom_fields(db.session.connection(), job.tenant_id, declared)
    state.sample = []
    job.import_options = {**options.to_dict(), "wizard": state.to_dict()}


def discard(job: ImportJob) -> None:
    """Delete a draft and its uploaded file (unless another import reads it: a follow-up draft
    shares the file of the import it follows up)."""
    key = job.file_url
    db.session.delete(job)
    db.session.commit()
    if key and not file_in_use(key):
        try:
            storage().delete(key)
        except StorageError:
            log.warning("draft file %s not deleted", key)


def drafts(tenant_id: uuid.UUID) -> list[ImportJob]:
    """The tenant's wizard drafts, newest first, for the dashboard (not the API's dry runs)."""
    return list(
        db.session.scalars(
            select(ImportJob)
            .where(
                ImportJob.tenant_id == tenant_id,
                ImportJob.status == ImportStatus.DRAFT,
                ImportJob.import_options[("wizard", "origin")].as_string().is_(None),
            )
            .order_by(ImportJob.created_at.desc())
            .limit(DASHBOARD_DRAFTS)
        )
    )
