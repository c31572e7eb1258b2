"""The dry run: the whole pipeline over the file, counting what an import would do, writing nothing."""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections import Counter
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.imports.batch_lookups import fetch_existing, refresh_tenant_statistics
from app.imports.corrections import correction_counts, load_corrections
from app.imports.importing import import_settings
from app.imports.options import ImportOptions, OptionsError
from app.imports.parsing import FileFormatError
from app.imports.pipeline import (
    declared_custom_types,
    error_dict,
    new_validator,
    open_source,
    validated_batches,
)
from app.imports.review import forget_refused, record_refused
from app.imports.service import ImportRefused
from app.imports.upsert import REPEATS_KEPT, batch_rounds, plan_batch
from app.imports.validation import (
    email_domain_typo,
)
from app.models import (
    ImportJob,
    Segment,
    segment_contacts,
)
from app.models.types import utcnow
from app.storage import StorageError

log = logging.getLogger(__name__)


def run_dry_run(
    job_id: uuid.UUID | str, batch_size: int = 2000, errors_shown: int = 100
) -> dict[str, Any]:
    """Run the pipeline over the whole file without writing, and store what would happen."""
    job = db.session.get(ImportJob, uuid.UUID(str(job_id)))
    if job is None:
        raise ImportRefused(f"There is no import {job_id}.")
    options = ImportOptions.from_dict(job.import_options or {})
    run = uuid.uuid4().hex  # a newer dry run of the same draft replaces it: this one then stops
    job.dry_run_status = "processing"
    job.dry_run = {"processedRows": 0, "run": run}
    job.heartbeat_at = utcnow()
    db.session.commit()
    result: dict[str, Any]
    with tempfile.TemporaryDirectory(prefix="dry-run-") as folder:
        try:
            _path, table = open_source(job, options, folder)
        except (FileFormatError, StorageError) as exc:
            return _dry_run_failed(job, str(exc))
        with table:
            try:
                targets = options.targets()
                options.check(table.headers)
            except OptionsError as exc:
                return _dry_run_failed(job, str(exc))
            custom_types = declared_custom_types(job.tenant_id, targets)
            segment_id = None
            if options.segment_name:
                segment_id = db.session.scalar(
                    select(Segment.id).where(
                        Segment.tenant_id == job.tenant_id,
                        Segment.name == options.segment_name.strip(),
                    )
                )
            settings = import_settings(job, options, targets, segment_id)
            validator = new_validator(table, options, targets, custom_types)
            counts: Counter[str] = Counter()
            field_changes: Counter[str] = Counter()
            typos: dict[str, dict[str, Any]] = {}
            domain_cache: dict[str, str | None] = {}
            seen: dict[str, int] = {}
            joined: set[uuid.UUID] = set()  # contacts counted for the segment already
            errors: list[dict[str, Any]] = []
            error_rows = 0
            unsubscribed = 0
            status_changes: Counter[tuple[str, str]] = Counter()
            repeats: list[dict[str, int]] = []
            segment_new = segment_already = 0
            processed = 0
            refresh_tenant_statistics(db.session.connection())  # see its docstring
            fixes = load_corrections(job.id)
            problems: Counter[str] = Counter()
            forget_refused(job.id)
            try:
                for batch in validated_batches(table, validator, 0, batch_size, fixes=fixes):
                    if not _still_current(job, run):
                        return job.dry_run or {}
                    problems.update(
                        record_refused(
                            db.session.connection(), job.id, batch, validator, table.headers
                        )
                    )
                    processed += batch.consumed
                    error_rows += len({e.row for e, _ in batch.errors})
                    for e, _raw in batch.errors:
                        if len(errors) < errors_shown:
                            errors.append(error_dict(e))
                    conn = db.session.connection()
                    existing = fetch_existing(
                        conn,
                        job.tenant_id,
                        sorted({r.email_normalized for r in batch.rows}),
                        lock=False,
                    )
                    for r in batch.rows:
                        domain = r.email_normalized.rpartition("@")[2]
                        if domain not in domain_cache:
                            domain_cache[domain] = email_domain_typo(domain)
                        suggestion = domain_cache[domain]
                        if suggestion:
                            entry = typos.setdefault(
                                domain,
                                {
                                    "domain": domain,
                                    "suggestion": suggestion,
                                    "count": 0,
                                    "rows": [],
                                },
                            )
                            entry["count"] += 1
                            if len(entry["rows"]) < 5:
                                entry["rows"].append(r.row)
                    # in rounds, as the import writes a batch that repeats an email
                    for rows, _first_rows in batch_rounds(batch.rows):
                        plan = plan_batch(rows, existing, {}, settings, seen_in_run=seen)
                        for r in rows:
                            seen.setdefault(r.email_normalized, r.row)
                        counts.update(plan.counts)
                        status_changes.update(plan.status_changes)
                        for row, first in plan.repeats[: REPEATS_KEPT - len(repeats)]:
                            repeats.append({"row": row, "firstRow": first})
                        unsubscribed += plan.unsubscribed_matches
                        for change in plan.changes:
                            if change.kind == "updated" and not change.repeat_only:
                                field_changes.update(change.changed)
                        members = [
                            c for c in plan.changes if c.membership and c.contact_id not in joined
                        ]
                        joined.update(c.contact_id for c in members)
                        if segment_id is not None:
                            existing_members = set(
                                db.session.scalars(
                                    select(segment_contacts.c.contact_id).where(
                                        segment_contacts.c.segment_id == segment_id,
                                        segment_contacts.c.contact_id.in_(
                                            [c.contact_id for c in members if not c.is_new]
                                        ),
                                    )
                                )
                            )
                            segment_already += len(existing_members)
                            segment_new += len(members) - len(existing_members)
                        elif options.segment_name:
                            segment_new += len(members)
                    job.dry_run = {"processedRows": processed, "run": run}
                    job.heartbeat_at = utcnow()
                    db.session.commit()
            except FileFormatError as exc:
                return _dry_run_failed(job, str(exc))
    corrected_rows, skipped_rows = correction_counts(job.id)
    result = {
        "processedRows": processed,
        "wouldCreate": counts["created"],
        "wouldUpdate": counts["updated"],
        "wouldLeaveUnchanged": counts["unchanged"],
        "wouldSkip": counts["skipped"],
        "wouldRepeat": counts["repeated"],
        "repeats": repeats,
        "errorRows": error_rows,
        "errors": errors,
        "fieldChanges": dict(field_changes.most_common()),
        "segment": {
            "name": options.segment_name,
            "wouldJoin": segment_new,
            "alreadyIn": segment_already,
        }
        if options.segment_name
        else None,
        "unsubscribedMatches": unsubscribed,
        "statusChanges": [
            {"from": old, "to": new, "count": n}
            for (old, new), n in sorted(status_changes.items(), key=lambda i: (-i[1], i[0]))
        ],
        "domainTypos": sorted(typos.values(), key=lambda t: -t["count"]),
        # the review table's filters: every kind of problem found, by column, with its rows
        "problems": dict(problems.most_common()),
        "headers": table.headers,
        "correctedRows": corrected_rows,
        "skippedRows": skipped_rows,
    }
    if not _still_current(job, run):
        return job.dry_run or {}
    job.dry_run = result
    job.dry_run_status = "completed"
    if job.total_rows is None:
        job.total_rows = processed
    db.session.commit()
    return result


def _still_current(job: ImportJob, run: str) -> bool:
    """True while no newer dry run of the draft has started; the job row stays locked until the
    batch commits, so a newer run starts (and clears the recorded rows) only after it."""
    db.session.flush()
    stored = db.session.scalar(
        select(ImportJob.dry_run).where(ImportJob.id == job.id).with_for_update()
    )
    if (stored or {}).get("run") == run:
        return True
    log.info("dry run %s of import %s replaced by a newer one: stopping", run, job.id)
    db.session.rollback()
    db.session.refresh(job)
    return False


def mark_dry_run_failed(job_id: uuid.UUID | str, message: str) -> None:
    """Record why a dry run's job failed (RQ's failure callback), unless it has ended since."""
    db.session.rollback()
    job = db.session.get(ImportJob, uuid.UUID(str(job_id)))
    if job is not None and job.dry_run_status in ("pending", "processing"):
        _dry_run_failed(job, message)


def _dry_run_failed(job: ImportJob, message: str) -> dict[str, Any]:
    db.session.rollback()
    job.dry_run_status = "failed"
    job.dry_run = {"error": message}
    db.session.commit()
    return job.dry_run
