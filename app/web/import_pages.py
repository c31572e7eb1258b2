"""What the wizard, the history and the dashboard show of an import: where a draft resumes,
how a running import is doing, what a finished one did. Shared by the blueprints, so that no
view module imports another blueprint's views."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, redirect, url_for

from app.imports.wizard_state import WizardState
from app.models import ImportJob, ImportStatus, RunStatus
from app.tenancy import get_scoped_or_404
from app.web.charts import BarSegment, stacked_bar

STEP_ENDPOINTS = {
    "file": "wizard.source",
    "mapping": "wizard.mapping",
    "options": "wizard.options",
    "confirm": "wizard.confirm",
}
REPORT_WAIT_SECONDS = 60


def resume_url(job: ImportJob) -> str:
    """Where a draft continues: the furthest step it reached."""
    step = WizardState.of(job).reached
    return url_for(STEP_ENDPOINTS.get(step, "wizard.source"), job_id=job.id)


def started_import_or_404(job_id: str) -> ImportJob:
    """The current tenant's import `job_id`, for a page of an import that was started: a
    draft's link goes on (303) to the step where its wizard resumes."""
    job = get_scoped_or_404(ImportJob, job_id)
    if job.status == ImportStatus.DRAFT:
        abort(redirect(resume_url(job), 303))
    return job


def import_outcome(job: ImportJob) -> list[BarSegment]:
    """What an import did with the rows it read, as the segments of one stacked bar."""
    return stacked_bar(
        [
            ("created", "created", job.created_count),
            ("updated", "updated", job.updated_count),
            ("unchanged", "unchanged", job.unchanged_count),
            ("repeated", "repeated an earlier row", job.repeated_count),
            ("skipped", "skipped", job.skipped_count),
            ("review-skipped", "skipped in the review", job.review_skipped_rows),
            ("refused", "refused for errors", job.error_count),
        ]
    )


def progress_facts(job: ImportJob, now: datetime | None = None) -> dict[str, Any]:
    """Percent, rows per second and time left of a running import; its outcome once ended."""
    now = now or datetime.now(UTC)
    started = job.started_at
    if started is not None and started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    end = job.completed_at or now
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    elapsed = (end - started).total_seconds() if started else 0.0
    rate = job.processed_rows / elapsed if elapsed > 0.5 and job.processed_rows else None
    left = None
    if rate and job.total_rows and not job.is_finished and job.status != ImportStatus.ROLLED_BACK:
        left = max(job.total_rows - job.processed_rows, 0) / rate
    waiting = None
    if job.status == ImportStatus.PENDING:
        created = job.created_at if job.created_at.tzinfo else job.created_at.replace(tzinfo=UTC)
        waiting = (now - created).total_seconds()
    # The error report is written just after the status changes: wait for it a little.
    report_pending = bool(
        job.is_finished
        and job.error_count
        and not job.error_report_key
        and job.completed_at is not None
        and (now - _aware(job.completed_at)).total_seconds() < REPORT_WAIT_SECONDS
    )
    return {
        "report_pending": report_pending,
        "percent": job.percent,
        "rate": rate,
        "left": _duration(left) if left is not None else None,
        "elapsed": _duration(elapsed) if started else None,
        "waiting": waiting,
        "running": job.status in (ImportStatus.PENDING, ImportStatus.PROCESSING),
        "outcome": import_outcome(job)
        if job.is_finished or job.status == ImportStatus.ROLLED_BACK
        else [],
        "polling": job.status in (ImportStatus.PENDING, ImportStatus.PROCESSING)
        or job.rollback_status in (RunStatus.PENDING, RunStatus.PROCESSING)
        or report_pending,
    }


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "under a second"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
