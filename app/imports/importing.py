"""Running an import: read, validate and write the file batch by batch, resumably."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, closing, suppress

from flask import current_app
from sqlalchemy import func, update

from app.extensions import db
from app.imports.batch_commit import (
    BatchWriter,
    Progress,
    commit_batch,
    encoder,
    staged_writer,
)
from app.imports.batch_lookups import refresh_tenant_statistics
from app.imports.copy_lines import RowEncoder
from app.imports.corrections import correction_counts, load_corrections
from app.imports.error_report import write_error_report
from app.imports.follow_up import corrected_row_numbers, corrections_with_earlier
from app.imports.mapping import FieldTarget
from app.imports.named_objects import NewField, create_custom_fields, ensure_segment
from app.imports.options import ImportOptions, OptionsError
from app.imports.parsing import FileFormatError, check_source, count_data_rows, progress_total
from app.imports.pipeline import (
    ChildBatches,
    ValidatedBatch,
    feed,
    opened_source,
    reader_limits,
    tenant_custom_types,
)
from app.imports.service import existing_import
from app.imports.upsert import ImportSettings
from app.jobs.locks import run_alone
from app.models import ImportJob, NotifiedObject
from app.models.jobs import ImportStatus
from app.models.types import utcnow
from app.notifications import notify
from app.storage import StorageError

log = logging.getLogger(__name__)


def _ensure_custom_fields(tenant_id: uuid.UUID, targets: dict[str, FieldTarget]) -> dict[str, str]:
    """Types of the mapped custom fields, creating the ones the import declares."""
    existing = tenant_custom_types(tenant_id)
    declared: list[NewField] = []
    for header, target in targets.items():
        if target.kind != "custom" or not target.key or target.key in existing:
            continue
        if not target.custom_type:
            raise OptionsError(
                [
                    f"Column '{header}' is mapped to the custom field '{target.key}', which does not "
                    "exist: choose a type so the import can create it (e.g. zip:text)."
                ]
            )
        declared.append(NewField(target.key, header.strip() or target.key, target.custom_type))
    existing.update(create_custom_fields(db.session.connection(), tenant_id, declared))
    return {t.key: existing[t.key] for t in targets.values() if t.kind == "custom" and t.key}


def _ensure_segment(job: ImportJob, name: str | None) -> uuid.UUID | None:
    if not name or not name.strip():
        return None
    if job.segment_id:
        return job.segment_id
    segment_id, created = ensure_segment(db.session.connection(), job.tenant_id, name.strip()[:200])
    if created:
        job.created_segment = True
    job.segment_id = segment_id
    return segment_id


def import_settings(
    job: ImportJob,
    options: ImportOptions,
    targets: dict[str, FieldTarget],
    segment_id: uuid.UUID | None,
) -> ImportSettings:
    return ImportSettings(
        tenant_id=job.tenant_id,
        workspace_id=job.workspace_id,
        job_id=job.id,
        strategy=options.duplicate_strategy,
        blank_clears=options.blank_clears,
        field_rules=dict(options.field_rules),
        tags_mode=options.tags_mode,
        tags_mapped=any(t.kind == "tags" for t in targets.values()),
        option_tags=tuple(t for t in options.tags if t.strip()),
        segment_id=segment_id,
        new_contact_status=options.new_contact_status,
        suppression_list=options.suppression_list,
    )


def _fail(job: ImportJob, message: str) -> ImportJob:
    db.session.rollback()
    db.session.refresh(job)
    return _end(job, ImportStatus.FAILED, message)


def run_import(job_id: uuid.UUID | str, batch_size: int | None = None) -> ImportJob:
    """Run (or resume) an import to its end; safe to call again after a crash."""
    job = existing_import(job_id)
    if job.status not in (ImportStatus.PENDING, ImportStatus.PROCESSING):
        log.info("import %s is %s; nothing to do", job.id, job.status)
        return job
    if job.cancel_requested:
        job.status, job.completed_at = ImportStatus.CANCELLED, utcnow()
        db.session.commit()
        return job
    return run_alone(job, "import", lambda: _run_import(job, batch_size))


def _run_import(job: ImportJob, batch_size: int | None) -> ImportJob:
    db.session.refresh(job)
    if job.status not in (ImportStatus.PENDING, ImportStatus.PROCESSING):
        return job
    options = ImportOptions.from_dict(job.import_options or {})
    batch_size = batch_size or current_app.config["IMPORT_BATCH_SIZE"]
    # Conditional: a Cancel click may have ended the waiting import since it was read.
    started = db.session.execute(  # type: ignore[attr-defined] # an UPDATE: a CursorResult
        update(ImportJob)
        .where(
            ImportJob.id == job.id,
            ImportJob.status.in_((ImportStatus.PENDING, ImportStatus.PROCESSING)),
            ImportJob.cancel_requested.is_(False),
        )
        .values(
            status=ImportStatus.PROCESSING,
            started_at=func.coalesce(ImportJob.started_at, utcnow()),
            heartbeat_at=utcnow(),
        )
    ).rowcount
    db.session.commit()
    db.session.refresh(job)
    if not started:
        log.info("import %s was cancelled before it started", job.id)
        return (
            _end(job, ImportStatus.CANCELLED)
            if job.status in (ImportStatus.PENDING, ImportStatus.PROCESSING)
            else job
        )
    log.info("import %s: starting at row %d", job.id, job.checkpoint_row + 1)

    # a follow-up imports only the rows corrected since its first import refused them, read as
    # that import read them (its own corrections applied first)
    fixes = corrections_with_earlier(job) if job.follow_up_of else load_corrections(job.id)
    only = corrected_row_numbers(job.id) if job.follow_up_of else None
    parallel_rows = current_app.config["IMPORT_PARALLEL_ROWS"]
    with ExitStack() as stack:
        try:
            # the header only: a large file's rows are read again by the reading process, and
            # calamine would parse a whole workbook here for nothing; its package is checked
            # below, before any row is used
            source = stack.enter_context(
                opened_source(job, stream=True, check=False, fixes=fixes, only=only)
            )
        except (FileFormatError, OptionsError) as exc:
            return _fail(job, str(exc))
        except StorageError as exc:
            return _fail(job, f"The uploaded file could not be read from storage: {exc}")
        info = source.table.info
        early: ChildBatches | None = None
        expected = job.total_rows if job.total_rows is not None else source.table.stated_rows()
        if expected is not None and expected >= parallel_rows and not job.processed_rows:
            # a large workbook: its reading process parses it (calamine, a second for 100k
            # rows) while this one measures its grid and counts the rows, instead of after
            early = stack.enter_context(
                closing(source.in_child(batch_size=batch_size, encode=encoder(), checked=False))
            )
        try:
            check_source(source.path, info, reader_limits())
            source.with_types(_ensure_custom_fields(job.tenant_id, source.targets))
            _ensure_segment(job, options.segment_name)
            estimated = job.total_rows is None  # counted without parsing: see the Cancel below
            if estimated:
                job.total_rows = progress_total(source.path, info)
            job.corrected_rows, job.review_skipped_rows = correction_counts(job.id)
            if only is not None:
                job.corrected_rows = len(only)  # the rows it imports, not every one touched
            job.file_type = info.file_type
            job.import_options = {
                **(job.import_options or {}),
                "source_headers": source.headers,
                "row_label": info.row_label,
            }
            db.session.commit()
        except (OptionsError, FileFormatError) as exc:
            return _fail(job, str(exc))
        settings = import_settings(job, options, source.targets, job.segment_id)
        progress = Progress.of(job)
        # PostgreSQL takes the batch as COPY text and decides in SQL (`staged_write`);
        # SQLite, in process, runs the same rules in Python (`upsert.plan_batch`).
        staged = staged_writer(settings, source.targets)
        encode = RowEncoder(progress.processed) if staged is not None else None
        large = (job.total_rows or 0) >= parallel_rows

        def in_child() -> ChildBatches:  # read and validated in a process of its own
            return stack.enter_context(
                closing(source.in_child(progress.processed, batch_size, encode=encode))
            )

        batches: Iterable[ValidatedBatch]
        if early is not None and (early.validator, early.encode) != (source.validator, encode):
            early.close()  # started before the custom fields' types were known: read again
            early = None
        if early is not None:
            batches = _early_or_again(early, in_child)
        elif large:
            batches = in_child()
        else:
            batches = source.batches(progress.processed, batch_size, encode=encode, ahead=True)
        sink = _ImportSink(job, BatchWriter(settings, staged), progress, large)
        if large:  # the tenant as it is now, and again once its first batch is in
            _refresh_statistics()
        try:
            finished = feed(batches, sink)
        except FileFormatError as exc:
            return _fail(job, f"{exc} The rows before it were imported and can be rolled back.")
        if not finished:
            log.info("import %s: cancelled after row %d", job.id, progress.processed + 1)
            if estimated:  # "stopped at row N of M" needs the exact M (a blank line is none)
                with suppress(FileFormatError):
                    job.total_rows = count_data_rows(source.path, info)
            return _end(job, ImportStatus.CANCELLED)
    if job.total_rows is None or job.total_rows != progress.processed:
        job.total_rows = progress.processed
    log.info("import %s: completed (%d rows)", job.id, progress.processed)
    return _end(job, ImportStatus.COMPLETED)


def _early_or_again(
    early: ChildBatches, again: Callable[[], ChildBatches]
) -> Iterator[ValidatedBatch]:
    """The early reading process's batches; if it ended before its first one (a workbook
    that needs more memory than the unchecked process may take), a checked process's."""
    batches = iter(early)
    try:
        first = next(batches)
    except StopIteration:
        return
    except RuntimeError as exc:  # it died or crashed: the grid was measured fine meanwhile
        log.warning("the early reading process stopped (%s): reading the file again", exc)
        early.close()
        yield from again()
        return
    yield first
    yield from batches


class _ImportSink:
    """The import's use of the pipeline: each batch written and committed with its checkpoint;
    a Cancel asked for since the last batch stops the reading."""

    def __init__(
        self, job: ImportJob, writer: BatchWriter, progress: Progress, large: bool
    ) -> None:
        self.job, self.writer, self.progress, self.large = job, writer, progress, large
        self.batches = 0

    def take(self, batch: ValidatedBatch) -> bool:
        if commit_batch(self.job, self.writer, batch, self.progress):
            return False
        self.batches += 1
        if self.large and self.batches == 1:
            _refresh_statistics()  # the tenant's statistics once its first batch is in
        return True


def _refresh_statistics() -> None:
    refresh_tenant_statistics(db.session.connection())
    db.session.commit()


def _end(job: ImportJob, status: str, message: str | None = None) -> ImportJob:
    """Stop an import for good: the error report first, then the final status, then the news.

    The report is written before the status changes, so a page that sees the import ended can
    offer the report at once.
    """
    try:
        if job.error_count:
            job.error_report_key = write_error_report(job)
    except StorageError as exc:
        log.warning("import %s: error report not written: %s", job.id, exc)
    job.status = status
    job.completed_at = utcnow()
    if message:
        job.failure_message = message
    db.session.commit()
    notify(
        job.tenant_id,
        job.created_by,
        "import",
        import_summary(job),
        (NotifiedObject.IMPORT, job.id),
    )
    return job


def import_summary(job: ImportJob) -> str:
    """One sentence about how an import ended."""
    name = job.file_name or "file"
    counts = f"{job.created_count:,} created, {job.updated_count:,} updated, "
    if job.unchanged_count:
        counts += f"{job.unchanged_count:,} unchanged, "
    if job.repeated_count:
        counts += f"{job.repeated_count:,} repeating an earlier row, "
    errors = job.error_count or 0
    counts += (
        f"{job.skipped_count:,} skipped, {errors:,} row{'' if errors == 1 else 's'} with errors"
    )
    if job.status == ImportStatus.COMPLETED:
        return f"Import of {name} finished: {counts}."
    if job.status == ImportStatus.CANCELLED:
        return f"Import of {name} was cancelled after {job.processed_rows:,} rows: {counts}."
    return f"Import of {name} failed: {job.failure_message or 'see the import page'}"


def mark_failed(job_id: uuid.UUID | str, message: str) -> None:
    """Record that a job gave up for good (called by the queue's failure callback)."""
    job = db.session.get(ImportJob, uuid.UUID(str(job_id)))
    if job is None or job.status not in (ImportStatus.PENDING, ImportStatus.PROCESSING):
        return
    _end(job, ImportStatus.FAILED, message)
