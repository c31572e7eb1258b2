"""The dry run: the whole pipeline over the file, counting what an import would do, writing nothing."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from contextlib import ExitStack
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.imports.batch_lookups import fetch_existing, refresh_tenant_statistics
from app.imports.corrections import correction_counts, load_corrections
from app.imports.dry_run_result import (
    DomainTypo,
    DryRunResult,
    DryRunStage,
    Repeat,
    SegmentChange,
    ShownError,
    StatusChange,
)
from app.imports.importing import import_settings
from app.imports.options import OptionsError
from app.imports.parsing import FileFormatError
from app.imports.pipeline import Source, ValidatedBatch, feed, opened_source
from app.imports.refused_rows import forget_refused, record_refused
from app.imports.service import existing_import
from app.imports.upsert import REPEATS_KEPT, BatchPlan, ImportSettings, batch_rounds, plan_batch
from app.imports.validation import CleanRow, RowError, email_domain_typo
from app.models import (
    ImportJob,
    Segment,
    segment_contacts,
)
from app.models.jobs import RunStatus
from app.models.types import utcnow
from app.storage import StorageError

log = logging.getLogger(__name__)


def run_dry_run(
    job_id: uuid.UUID | str, batch_size: int = 2000, errors_shown: int = 100
) -> DryRunResult:
    """Run the pipeline over the whole file without writing, and store what would happen."""
    job = existing_import(job_id)
    run = uuid.uuid4().hex  # a newer dry run of the same draft replaces it: this one then stops
    job.dry_run_status = RunStatus.PROCESSING
    job.dry_run = DryRunResult.running(run).to_stored()
    job.heartbeat_at = utcnow()
    db.session.commit()
    with ExitStack() as stack:
        try:
            source = stack.enter_context(opened_source(job, fixes=load_corrections(job.id)))
        except (FileFormatError, StorageError, OptionsError) as exc:
            return _dry_run_failed(job, str(exc))
        options = source.options
        segment_id = None
        if options.segment_name:
            segment_id = db.session.scalar(
                select(Segment.id).where(
                    Segment.tenant_id == job.tenant_id,
                    Segment.name == options.segment_name.strip(),
                )
            )
        settings = import_settings(job, options, source.targets, segment_id)
        tally = _Tally(job, run, source, settings, errors_shown)
        refresh_tenant_statistics(db.session.connection())  # see its docstring
        forget_refused(job.id)
        try:
            if not feed(source.batches(batch_size=batch_size), tally):
                return _superseded(job)
        except FileFormatError as exc:
            return _dry_run_failed(job, str(exc))
        result = tally.result()
    if not _still_current(job, run):
        return _superseded(job)
    job.dry_run = result.to_stored()
    job.dry_run_status = RunStatus.COMPLETED
    if job.total_rows is None:
        job.total_rows = tally.processed
    db.session.commit()
    return result


class _Tally:
    """The dry run's use of the pipeline: what each batch would do, counted, nothing applied;
    its refused rows recorded for the review step."""

    def __init__(
        self,
        job: ImportJob,
        run: str,
        source: Source,
        settings: ImportSettings,
        errors_shown: int,
    ) -> None:
        self.job, self.run, self.source, self.settings = job, run, source, settings
        self.errors_shown = errors_shown
        self.segment_id = settings.segment_id
        self.counts: Counter[str] = Counter()
        self.field_changes: Counter[str] = Counter()
        self.typos: dict[str, dict[str, Any]] = {}
        self.domain_cache: dict[str, str | None] = {}
        self.seen: dict[str, int] = {}
        self.joined: set[uuid.UUID] = set()  # contacts counted for the segment already
        self.errors: list[RowError] = []
        self.error_rows = 0
        self.unsubscribed = 0
        self.status_changes: Counter[tuple[str, str]] = Counter()
        self.repeats: list[Repeat] = []
        self.segment_new = self.segment_already = 0
        self.processed = 0
        self.problems: Counter[str] = Counter()

    def take(self, batch: ValidatedBatch) -> bool:
        if not _still_current(self.job, self.run):
            return False
        conn = db.session.connection()
        self.problems.update(
            record_refused(conn, self.job.id, batch, self.source.validator, self.source.headers)
        )
        self.processed += batch.consumed
        self.error_rows += len({e.row for e, _ in batch.errors})
        for e, _raw in batch.errors:
            if len(self.errors) < self.errors_shown:
                self.errors.append(e)
        existing = fetch_existing(
            conn,
            self.job.tenant_id,
            sorted({r.email_normalized for r in batch.rows}),
            lock=False,
        )
        self._typos(batch.rows)
        # in rounds, as the import writes a batch that repeats an email
        for rows, _first_rows in batch_rounds(batch.rows):
            plan = plan_batch(rows, existing, {}, self.settings, seen_in_run=self.seen)
            for r in rows:
                self.seen.setdefault(r.email_normalized, r.row)
            self._count(plan)
        self.job.dry_run = DryRunResult.running(self.run, self.processed).to_stored()
        self.job.heartbeat_at = utcnow()
        db.session.commit()
        return True

    def _typos(self, rows: list[CleanRow]) -> None:
        for r in rows:
            domain = r.email_normalized.rpartition("@")[2]
            if domain not in self.domain_cache:
                self.domain_cache[domain] = email_domain_typo(domain)
            suggestion = self.domain_cache[domain]
            if suggestion:
                entry = self.typos.setdefault(
                    domain, {"domain": domain, "suggestion": suggestion, "count": 0, "rows": []}
                )
                entry["count"] += 1
                if len(entry["rows"]) < 5:
                    entry["rows"].append(r.row)

    def _count(self, plan: BatchPlan) -> None:
        self.counts.update(plan.counts)
        self.status_changes.update(plan.status_changes)
        for row, first in plan.repeats[: REPEATS_KEPT - len(self.repeats)]:
            self.repeats.append(Repeat(row, first))
        self.unsubscribed += plan.unsubscribed_matches
        for change in plan.changes:
            if change.kind == "updated" and not change.repeat_only:
                self.field_changes.update(change.changed)
        members = [c for c in plan.changes if c.membership and c.contact_id not in self.joined]
        self.joined.update(c.contact_id for c in members)
        if self.segment_id is not None:
            existing_members = set(
                db.session.scalars(
                    select(segment_contacts.c.contact_id).where(
                        segment_contacts.c.segment_id == self.segment_id,
                        segment_contacts.c.contact_id.in_(
                            [c.contact_id for c in members if not c.is_new]
                        ),
                    )
                )
            )
            self.segment_already += len(existing_members)
            self.segment_new += len(members) - len(existing_members)
        elif self.source.options.segment_name:
            self.segment_new += len(members)

    def result(self) -> DryRunResult:
        """What the import would do, counted over the whole file."""
        options = self.source.options
        corrected_rows, skipped_rows = correction_counts(self.job.id)
        counts = self.counts
        return DryRunResult(
            DryRunStage.COUNTED,
            processed_rows=self.processed,
            would_create=counts["created"],
            would_update=counts["updated"],
            would_leave_unchanged=counts["unchanged"],
            would_skip=counts["skipped"],
            would_repeat=counts["repeated"],
            repeats=tuple(self.repeats),
            error_rows=self.error_rows,
            errors=tuple(ShownError(e.row, e.column, e.value, e.message) for e in self.errors),
            field_changes=dict(self.field_changes.most_common()),
            segment=SegmentChange(options.segment_name, self.segment_new, self.segment_already)
            if options.segment_name
            else None,
            unsubscribed_matches=self.unsubscribed,
            status_changes=tuple(
                StatusChange(old, new, n)
                for (old, new), n in sorted(
                    self.status_changes.items(), key=lambda i: (-i[1], i[0])
                )
            ),
            domain_typos=tuple(
                DomainTypo(t["domain"], t["suggestion"], t["count"], tuple(t["rows"]))
                for t in sorted(self.typos.values(), key=lambda t: -t["count"])
            ),
            problems=dict(self.problems.most_common()),
            headers=tuple(self.source.headers),
            corrected_rows=corrected_rows,
            skipped_rows=skipped_rows,
        )


def _still_current(job: ImportJob, run: str) -> bool:
    """True while no newer dry run of the draft has started; the job row stays locked until the
    batch commits, so a newer run starts (and clears the recorded rows) only after it."""
    db.session.flush()
    stored = db.session.scalar(
        select(ImportJob.dry_run).where(ImportJob.id == job.id).with_for_update()
    )
    current = DryRunResult.from_stored(stored)
    if current is not None and current.run == run:
        return True
    log.info("dry run %s of import %s replaced by a newer one: stopping", run, job.id)
    db.session.rollback()
    db.session.refresh(job)
    return False


def mark_dry_run_failed(job_id: uuid.UUID | str, message: str) -> None:
    """Record why a dry run's job failed (RQ's failure callback), unless it has ended since."""
    db.session.rollback()
    job = db.session.get(ImportJob, uuid.UUID(str(job_id)))
    if job is not None and job.dry_run_status in (RunStatus.PENDING, RunStatus.PROCESSING):
        _dry_run_failed(job, message)


def _superseded(job: ImportJob) -> DryRunResult:
    """What a newer dry run of the draft, which took over, has stored (nothing yet: it is about
    to start)."""
    return DryRunResult.of(job) or DryRunResult.running(None)


def _dry_run_failed(job: ImportJob, message: str) -> DryRunResult:
    db.session.rollback()
    job.dry_run_status = RunStatus.FAILED
    result = DryRunResult.failed(message)
    job.dry_run = result.to_stored()
    db.session.commit()
    return result
