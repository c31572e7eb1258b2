"""The wizard's server-side state: a draft import job whose options the steps fill in.

A draft is an `ImportJob` with status "draft". Its `import_options` hold the `ImportOptions` the
engine reads, plus a "wizard" entry with what the pages need between requests: the headers, the
first rows of the file, the suggestions and why, the choices not yet valid, the step reached.
Reload, the back button and a second tab all read this one row.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import Any, BinaryIO

from flask import current_app
from sqlalchemy import delete

from app.extensions import db
from app.imports.column_values import SUGGESTION_SAMPLE_ROWS
from app.imports.mapping import (
    STANDARD_FIELDS,
    FieldTarget,
    MappingError,
    check_mapping,
    parse_target,
    rule_name,
    target_to_spec,
)
from app.imports.named_objects import NewField, create_custom_fields
from app.imports.options import ImportOptions, OptionsError
from app.imports.parsing import (
    FileFormatError,
    ReaderLimits,
    SourceInfo,
    SourceRow,
    detect_file_type,
    estimate_data_rows,
    open_table,
)
from app.imports.preview import PreviewColumn, PreviewRow, preview_rows
from app.imports.refused_rows import forget_refused
from app.imports.service import create_import_job, file_in_use, store_upload
from app.imports.suggestions import suggestions_for
from app.imports.validation import ValidationOptions
from app.jobs.submit import enqueue_dry_run, enqueue_import
from app.models import Correction, CustomField, ImportJob
from app.storage import StorageError, clean_file_name
from app.tenancy import current_tenant_id, scoped

STEPS = ("file", "mapping", "options", "confirm")
SAMPLE_ROWS = 10
SAMPLE_CELL_CHARS = 4000
NEW_FIELD = "__new__"
COPY_CHUNK = 1024 * 1024
_KEY_CHARS = re.compile(r"[^a-z0-9]+")


class UploadRefused(Exception):
    """The uploaded file cannot be imported; the message says why and what to do."""


@dataclass(frozen=True)
class FileFacts:
    """What reading the top of a file found: its settings, first rows and an estimate of rows."""

    info: SourceInfo
    sample: list[SourceRow]
    row_estimate: int


@dataclass
class MappingDraft:
    """The mapping step's choices as submitted, the valid specs, and the problems left."""

    choices: dict[str, str]
    new_fields: dict[str, dict[str, str]]
    specs: dict[str, str]
    row_errors: dict[str, str]
    problems: list[str]

    @property
    def is_valid(self) -> bool:
        """True when the import can use this mapping."""
        return not self.row_errors and not self.problems


# --- reading the file ----------------------------------------------------------------------


def display_file_name(raw: str | None) -> str:
    """The file's own name without any folder a browser sent along, fit to store and show."""
    return clean_file_name(raw)


def analyze_file(
    path: str,
    file_name: str,
    *,
    file_type: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
) -> FileFacts:
    """Detect or apply the file's settings and read its header, first rows and size."""
    limits = ReaderLimits(max_rows=current_app.config["IMPORT_MAX_ROWS"])
    try:
        file_type = file_type or detect_file_type(path, file_name)
        info, sample = _read_top(path, file_type, encoding, delimiter, sheet, limits)
        if not sample and file_type == "xlsx" and sheet is None:
            # A "Read me" sheet in front of the data: take the first sheet that has contacts.
            for other in info.sheets:
                if other != info.sheet:
                    found = _read_top(path, file_type, None, None, other, limits)
                    if found[1]:
                        info, sample = found
                        break
        estimate = estimate_data_rows(path, info)
    except FileFormatError as exc:
        raise UploadRefused(str(exc)) from None
    except (UnicodeError, ValueError, LookupError) as exc:
        raise UploadRefused(
            "The file could not be read with these settings: check the file type and encoding, "
            f"or save the file again as UTF-8 CSV ({exc.__class__.__name__})."
        ) from None
    if not sample:
        raise UploadRefused(
            "The file has column names but no rows below them: add the contacts and upload it again."
        )
    if estimate > limits.max_rows:
        raise UploadRefused(
            f"The file has about {estimate:,} rows; one import takes at most {limits.max_rows:,}: "
            "split it into smaller files and upload them one by one."
        )
    return FileFacts(info, sample, estimate)


def _read_top(
    path: str,
    file_type: str,
    encoding: str | None,
    delimiter: str | None,
    sheet: str | None,
    limits: ReaderLimits,
) -> tuple[SourceInfo, list[SourceRow]]:
    """Open the file with these settings and read its header and first rows."""
    with open_table(
        path,
        file_type,
        encoding=encoding if file_type != "xlsx" else None,
        delimiter=delimiter if file_type == "csv" else None,
        sheet=sheet if file_type == "xlsx" else None,
        limits=limits,
    ) as table:
        # the first SAMPLE_ROWS are shown; the mapping suggestions read them all
        return table.info, list(islice(table.rows(), max(SAMPLE_ROWS, SUGGESTION_SAMPLE_ROWS)))


def _spool(stream: BinaryIO, path: str) -> int:
    """Copy an upload stream to a local file in chunks; returns its size."""
    size = 0
    with open(path, "wb") as out:
        while chunk := stream.read(COPY_CHUNK):
            out.write(chunk)
            size += len(chunk)
    return size


@contextmanager
def local_copy(job: ImportJob) -> Iterator[str]:
    """The draft's stored file as a local path, removed afterwards."""
    with stored_copy(job.file_url or "") as path:
        yield path


@contextmanager
def stored_copy(key: str) -> Iterator[str]:
    """A stored upload as a local path, removed afterwards; UploadRefused when it is unreadable."""
    folder = tempfile.mkdtemp(prefix="wizard-")
    try:
        path = os.path.join(folder, "source")
        try:
            current_app.extensions["storage"].download_to(key, path)
        except StorageError as exc:
            raise UploadRefused(
                f"The uploaded file could not be read from storage: {exc} Upload it again."
            ) from None
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- state ---------------------------------------------------------------------------------


def options_of(job: ImportJob) -> ImportOptions:
    """The engine's options stored on the job."""
    return ImportOptions.from_dict(job.import_options or {})


STATE_DEFAULTS: dict[str, Any] = {
    "headers": [],
    "sample": [],
    "row_estimate": 0,
    "sheets": [],
    "choices": {},
    "new_fields": {},
    "suggestions": {},
    "reached": "file",
}


def state_of(job: ImportJob) -> dict[str, Any]:
    """The wizard's own state stored on the job (a copy: change it, then `save`)."""
    stored = json.loads(json.dumps((job.import_options or {}).get("wizard") or {}))
    return {**json.loads(json.dumps(STATE_DEFAULTS)), **stored}


def fingerprint(options: ImportOptions) -> str:
    """A short hash of everything the import would do, to tell whether a dry run is current."""
    return options.fingerprint()


def save(job: ImportJob, options: ImportOptions, state: dict[str, Any]) -> None:
    """Store options and state on the draft; a dry run of other options no longer counts."""
    stale = _options_checked(state) != fingerprint(options)
    if stale and job.dry_run_status in ("completed", "failed"):
        job.dry_run_status = None
        job.dry_run = None
    job.import_options = {**options.to_dict(), "wizard": state}
    job.field_mapping = dict(options.field_mapping)
    job.file_type = options.file_type
    db.session.commit()


def reach(state: dict[str, Any], step: str) -> None:
    """Remember the furthest step the user got to, for the stepper and for resuming."""
    if STEPS.index(step) > STEPS.index(state.get("reached", "file")):
        state["reached"] = step


def sample_rows(state: dict[str, Any]) -> list[SourceRow]:
    """The file's first rows as stored in the state."""
    return [SourceRow(line, list(values), error) for line, values, error in state.get("sample", [])]


def _state_from_facts(facts: FileFacts, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    state = dict(previous or {})
    state.update(
        headers=list(facts.info.headers),
        sample=[
            [row.line, [value[:SAMPLE_CELL_CHARS] for value in row.values], row.error]
            for row in facts.sample[:SAMPLE_ROWS]
        ],
        row_estimate=facts.row_estimate,
        sheets=list(facts.info.sheets),
        json_format=facts.info.json_format,
        row_label=facts.info.row_label,
    )
    return state


def apply_facts(options: ImportOptions, facts: FileFacts) -> None:
    """Read the file with the type, encoding, delimiter and worksheet that were found."""
    options.file_type = facts.info.file_type
    options.encoding = facts.info.encoding
    options.delimiter = facts.info.delimiter
    options.sheet = facts.info.sheet


# --- step 1: upload and file settings --------------------------------------------------------


@dataclass(frozen=True)
class StoredUpload:
    """An uploaded file that was checked and stored: its name, key, size and what was found."""

    file_name: str
    key: str
    size: int
    facts: FileFacts


def receive_upload(
    upload_stream: BinaryIO, raw_name: str | None, sheet: str | None = None
) -> StoredUpload:
    """Check an uploaded file can be imported, then store it under the tenant's uploads."""
    file_name = display_file_name(raw_name)
    folder = tempfile.mkdtemp(prefix="upload-")
    try:
        path = os.path.join(folder, "upload")
        if _spool(upload_stream, path) == 0:
            raise UploadRefused(
                "The file is empty (0 bytes): check you picked the right file and upload it again."
            )
        facts = analyze_file(path, file_name, sheet=sheet)
        with open(path, "rb") as stream:
            key, size = store_upload(current_tenant_id(), stream, file_name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return StoredUpload(file_name, key, size, facts)


def start_draft(upload_stream: BinaryIO, raw_name: str | None, user_id: uuid.UUID) -> ImportJob:
    """Check an uploaded file, store it, and commit a draft import with suggested mapping."""
    tenant_id = current_tenant_id()
    upload = receive_upload(upload_stream, raw_name)
    file_name, key, size, facts = upload.file_name, upload.key, upload.size, upload.facts
    options = ImportOptions(file_name=file_name, file_key=key)
    apply_facts(options, facts)
    state = _state_from_facts(facts, {"reached": "file"})
    state["detected"] = {
        "file_type": facts.info.file_type,
        "encoding": facts.info.encoding,
        "delimiter": facts.info.delimiter,
        "sheet": facts.info.sheet,
    }
    _suggest(options, state, facts)
    job = create_import_job(tenant_id, options, user_id=user_id, file_size=size, status="draft")
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
    options, state = options_of(job), state_of(job)
    with local_copy(job) as path:
        facts = analyze_file(
            path,
            options.file_name,
            file_type=file_type,
            encoding=encoding,
            delimiter=delimiter,
            sheet=sheet,
        )
    headers_changed = list(facts.info.headers) != state.get("headers")
    apply_facts(options, facts)
    state = _state_from_facts(facts, state)
    if headers_changed:
        _suggest(options, state, facts)
    dropped = forget_corrections(job)  # made for the rows as the file was read before
    if dropped:
        state["corrections"] = 0
    save(job, options, state)
    return dropped


def forget_corrections(job: ImportJob) -> int:
    """Drop a draft's corrections and recorded rows: a row number and a column position name
    other cells once the file is read with another sheet, encoding, delimiter or type."""
    dropped = db.session.execute(
        delete(Correction).where(Correction.import_job_id == job.id)
    ).rowcount
    forget_refused(job.id)
    return dropped or 0


def _suggest(options: ImportOptions, state: dict[str, Any], facts: FileFacts) -> None:
    """Fill the mapping with suggestions for the headers and keep why each was suggested."""
    headers = state["headers"]
    custom = custom_fields()
    suggestions = suggestions_for(current_tenant_id(), headers, facts.sample)
    choices: dict[str, str] = {}
    new_fields: dict[str, dict[str, str]] = {}
    why: dict[str, dict[str, Any]] = {}
    for suggestion in suggestions:
        target = suggestion.target
        header = suggestion.header
        if target.kind == "custom" and target.custom_type and target.key not in custom:
            choices[header] = NEW_FIELD
            new_fields[header] = {"name": str(target.key), "type": target.custom_type}
        else:
            choices[header] = choice_of(target)
        why[header] = {
            "reason": suggestion.reason,
            "detail": suggestion.detail,
            "score": suggestion.score,
            "choice": choices[header],
        }
    state["suggestions"] = why
    draft = read_mapping(headers, choices, new_fields, custom)
    state["choices"], state["new_fields"] = draft.choices, draft.new_fields
    options.field_mapping = draft.specs


# --- step 2: mapping -------------------------------------------------------------------------


def custom_fields() -> dict[str, CustomField]:
    """The tenant's custom fields by key."""
    return {f.key: f for f in db.session.scalars(scoped(CustomField).order_by(CustomField.label))}


def choice_of(target: FieldTarget) -> str:
    """The value of the field picker for a target."""
    if target.kind == "custom":
        return f"custom:{target.key}"
    if target.kind == "standard":
        return str(target.key)
    return target.kind


def key_for_name(name: str) -> str:
    """A custom field key from the name a person typed: "Signed up on" -> "signed_up_on"."""
    key = _KEY_CHARS.sub("_", name.strip().lower()).strip("_")
    if key and not key[0].isalpha():
        key = f"field_{key}"
    return key[:64].rstrip("_")


def read_mapping(
    headers: list[str],
    choices: dict[str, str],
    new_fields: dict[str, dict[str, str]],
    custom: dict[str, CustomField],
) -> MappingDraft:
    """Turn the field pickers' values into specs, with a sentence for every problem."""
    from app.models import CUSTOM_FIELD_TYPES

    clean_choices: dict[str, str] = {}
    clean_new: dict[str, dict[str, str]] = {}
    specs: dict[str, str] = {}
    row_errors: dict[str, str] = {}
    allowed = {"ignore", "tags", *STANDARD_FIELDS, *(f"custom:{key}" for key in custom)}
    for header in headers:
        choice = choices.get(header) or "ignore"
        clean_choices[header] = choice
        specs[header] = "ignore"
        if choice == NEW_FIELD:
            new = new_fields.get(header) or {}
            name = (new.get("name") or "").strip()[:200]
            field_type = new.get("type") or "text"
            clean_new[header] = {"name": name, "type": field_type}
            key = key_for_name(name)
            if not name:
                row_errors[header] = "Give the new field a name."
            elif field_type not in CUSTOM_FIELD_TYPES:
                row_errors[header] = "Choose what kind of values the new field holds."
            elif not key:
                row_errors[header] = "Use letters or digits in the name of the new field."
            elif key in STANDARD_FIELDS or key in ("tags", "ignore"):
                label = STANDARD_FIELDS.get(key, "Tags")
                row_errors[header] = f"{label} is a standard field: pick it in the list instead."
            elif key in custom:
                row_errors[header] = (
                    f"A custom field named '{custom[key].label}' already exists: "
                    "pick it in the list instead."
                )
            else:
                specs[header] = f"{key}:{field_type}"
        elif choice not in allowed:
            row_errors[header] = "Choose a field from the list."
            clean_choices[header] = "ignore"
        elif choice != "ignore":
            specs[header] = target_to_spec(parse_target(choice))
    problems: list[str] = []
    try:
        check_mapping({h: parse_target(s) for h, s in specs.items()}, headers)
    except MappingError as exc:
        problems = list(exc.problems)
    return MappingDraft(clean_choices, clean_new, specs, row_errors, problems)


def mapping_of(job: ImportJob) -> MappingDraft:
    """The mapping as last saved, checked again against today's custom fields."""
    state = state_of(job)
    return read_mapping(
        state.get("headers", []),
        state.get("choices") or {},
        state.get("new_fields") or {},
        custom_fields(),
    )


def save_mapping(job: ImportJob, draft: MappingDraft, advance: bool = False) -> None:
    """Store the mapping step's choices (valid or not); `advance` marks the step done."""
    options, state = options_of(job), state_of(job)
    options.field_mapping = draft.specs
    state["choices"], state["new_fields"] = draft.choices, draft.new_fields
    known = {rule_name(parse_target(spec)) for spec in draft.specs.values()}
    options.field_rules = {k: v for k, v in options.field_rules.items() if k in known}
    if advance:
        reach(state, "options")
    save(job, options, state)


def preview_of(job: ImportJob) -> tuple[list[PreviewColumn], list[PreviewRow]] | None:
    """The first rows as the import would store them, or None while the mapping is unusable."""
    options, state = options_of(job), state_of(job)
    try:
        targets = options.targets()
        custom_types = {key: f.field_type for key, f in custom_fields().items()}
        return preview_rows(
            state.get("headers", []),
            sample_rows(state),
            targets,
            custom_types,
            ValidationOptions(
                options.validate_email, options.validate_phone, options.default_region
            ),
            job.row_label,
        )
    except (MappingError, ValueError):
        return None


def mapped_fields(job: ImportJob) -> list[tuple[str, str, str]]:
    """(rule name, field label, source header) of every mapped field a rule can apply to."""
    options, state = options_of(job), state_of(job)
    custom = custom_fields()
    new_fields = state.get("new_fields") or {}
    rows = []
    # JSONB keeps keys in its own order: follow the file's column order instead.
    headers = [h for h in state["headers"] if h in options.field_mapping]
    headers += [h for h in options.field_mapping if h not in headers]
    for header in headers:
        target = parse_target(options.field_mapping[header])
        name = rule_name(target)
        if name is None:
            continue
        if target.kind == "custom":
            field = custom.get(str(target.key))
            label = field.label if field else (new_fields.get(header) or {}).get("name", header)
        else:
            label = STANDARD_FIELDS[str(target.key)]
        rows.append((name, label, header))
    return rows


def tags_mapped(job: ImportJob) -> bool:
    """True when a column of the file holds tags."""
    return any(spec == "tags" for spec in options_of(job).field_mapping.values())


# --- step 3 and 4: options, dry run, start ----------------------------------------------------


def options_problems(job: ImportJob) -> list[str]:
    """Every reason the import cannot start as it stands."""
    options, state = options_of(job), state_of(job)
    mapping = mapping_of(job)
    problems = list(mapping.row_errors.values()) + mapping.problems
    try:
        options.check(state.get("headers", []))
    except OptionsError as exc:
        problems.extend(p for p in exc.problems if p not in problems)
    return problems


def _checked_for(options: ImportOptions, state: dict[str, Any]) -> str:
    """What a dry run is made for: the options, and how many times corrections were saved."""
    saved = int(state.get("corrections") or 0)
    return f"{fingerprint(options)}/{saved}" if saved else fingerprint(options)


def _options_checked(state: dict[str, Any]) -> str:
    return str(state.get("dry_run_for") or "").split("/")[0]


def dry_run_is_current(job: ImportJob) -> bool:
    """True when the stored dry run was made for the options and corrections as they are now."""
    state = state_of(job)
    return job.dry_run_status is not None and state.get("dry_run_for") == _checked_for(
        options_of(job), state
    )


def corrections_changed_only(job: ImportJob) -> bool:
    """True when the finished dry run is for these options, only rows were corrected since."""
    return job.dry_run_status == "completed" and _options_checked(state_of(job)) == fingerprint(
        options_of(job)
    )


def corrections_saved(job: ImportJob) -> None:
    """Note that rows were corrected: the dry run's counts no longer say what the import does."""
    state = state_of(job)
    state["corrections"] = int(state.get("corrections") or 0) + 1
    job.import_options = {**(job.import_options or {}), "wizard": state}


def start_dry_run(job: ImportJob) -> None:
    """Queue a dry run over the whole file for the current options (unless one is running)."""
    options, state = options_of(job), state_of(job)
    current = _checked_for(options, state)
    if job.dry_run_status in ("pending", "processing") and state.get("dry_run_for") == current:
        return
    state["dry_run_for"] = current
    job.import_options = {**options.to_dict(), "wizard": state}
    job.dry_run_status = "pending"
    job.dry_run = None
    enqueue_dry_run(job)


def start_import(job: ImportJob) -> None:
    """Create the custom fields named in the mapping step, then queue the import."""
    options, state = options_of(job), state_of(job)
    custom = custom_fields()
    new_fields = state.get("new_fields") or {}
    declared: list[NewField] = []
    for header, spec in options.field_mapping.items():
        target = parse_target(spec)
        if target.kind == "custom" and target.custom_type and target.key not in custom:
            label = (new_fields.get(header) or {}).get("name") or header
            declared.append(NewField(str(target.key), label, target.custom_type))
    # a colleague's import may create the same field first: it is then used as it is
    create_custom_fields(db.session.connection(), current_tenant_id(), declared)
    state.pop("sample", None)
    job.import_options = {**options.to_dict(), "wizard": state}
    enqueue_import(job)


def discard(job: ImportJob) -> None:
    """Delete a draft and its uploaded file (unless another import reads it: a follow-up draft
    shares the file of the import it follows up)."""
    key = job.file_url
    db.session.delete(job)
    db.session.commit()
    if key and not file_in_use(key):
        try:
            current_app.extensions["storage"].delete(key)
        except StorageError:
            current_app.logger.warning("draft file %s not deleted", key)


def drafts() -> list[ImportJob]:
    """The tenant's wizard drafts, newest first, for the dashboard (not the API's dry runs)."""
    return list(
        db.session.scalars(
            scoped(ImportJob)
            .where(
                ImportJob.status == "draft",
                ImportJob.import_options[("wizard", "origin")].as_string().is_(None),
            )
            .order_by(ImportJob.created_at.desc())
            .limit(10)
        )
    )
