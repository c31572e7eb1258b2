"""The review step's table of refused rows: correct cells in place, skip rows, bulk fixes.

Every action is a normal form (the page works without JavaScript: one form per page of rows);
htmx saves one row when a cell changes and swaps in that row as validated.
"""

from __future__ import annotations

import re
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from app.extensions import db
from app.imports.drafts import corrections_changed_only, corrections_saved, dry_run_is_current
from app.imports.follow_up import (
    NothingToFollowUp,
    can_follow_up,
    corrected_row_numbers,
    follow_up_of,
    open_follow_up,
    why_not_startable,
)
from app.imports.mapping import parse_target
from app.imports.refused_rows import split_key
from app.imports.review import PAGE_SIZE, Reviewer, reviewer_for
from app.imports.wizard_state import options_of
from app.jobs.queue import QUEUE_ERRORS
from app.jobs.submit import queue_draft_import
from app.models import ImportJob, ImportStatus
from app.tenancy import get_scoped_or_404
from app.web.partials import is_htmx
from app.web.wizard.forms import countries
from app.web.wizard.views import _draft, bp, locked_draft

CODE_LABELS = {
    "missing": "Missing {what}",
    "invalid": "Invalid {what}",
    "too_long": "Too long: {what}",
    "unreadable": "Rows that could not be read",
}
WHAT = {
    "email": "email addresses",
    "phone": "phone numbers",
    "tags": "tags",
}


def problem_label(job: ImportJob, key: str) -> str:
    """'Invalid phone numbers in “Mobile”' for a problem key."""
    column, code = split_key(key)
    if column is None:
        return CODE_LABELS["unreadable"]
    target = parse_target(options_of(job).field_mapping.get(column, "ignore"))
    what = WHAT.get(str(target.key if target.kind == "standard" else target.kind), "values")
    return CODE_LABELS.get(code, "{what}").format(what=what) + f" in “{column}”"


def _reviewer(job: ImportJob) -> Reviewer:
    reviewer = reviewer_for(job)
    if reviewer is None:
        flash("Check the file first: the review lists the rows the check would refuse.", "error")
        abort(redirect(url_for("wizard.confirm", job_id=job.id), 303))
    if not dry_run_is_current(job) and not corrections_changed_only(job):
        flash("The options changed since the check: check the file again to review its rows.")
        abort(redirect(url_for("wizard.confirm", job_id=job.id), 303))
    return reviewer


def _number(text: str) -> int | None:
    """A row or column number as a form sends it (ASCII digits, within a row count)."""
    return int(text) if re.fullmatch(r"[0-9]{1,9}", text) else None


def _int(name: str) -> int | None:
    return _number(request.values.get(name, ""))


def _here(job: ImportJob) -> str:
    """The review page the person was on (filter and position kept)."""
    args: dict[str, Any] = {
        k: request.values[k] for k in ("problem", "after", "before") if request.values.get(k)
    }
    return url_for("wizard.review", job_id=job.id, **args)


@bp.route("/<job_id>/review")
@login_required
def review(job_id: str) -> Any:
    """The rows the import would refuse, a page at a time, each bad cell editable."""
    job = _draft(job_id)
    reviewer = _reviewer(job)
    problem = request.args.get("problem") or None
    filters = reviewer.filters()
    if problem and problem not in dict(filters):
        problem = None
    page = reviewer.page(problem, after=_int("after"), before=_int("before"), size=PAGE_SIZE)
    return render_template(
        "wizard/review.html",
        job=job,
        page=page,
        totals=reviewer.totals(),
        filters=[
            (key, problem_label(job, key), count, reviewer.left(key)) for key, count in filters
        ],
        problem=problem,
        problem_name=problem_label(job, problem) if problem else None,
        followed=db.session.get(ImportJob, job.follow_up_of) if job.follow_up_of else None,
        countries=countries(),
        region=options_of(job).default_region,
        corrected=len(corrected_row_numbers(job.id)) if job.follow_up_of else 0,
    )


def _cells_of(number: int, reviewer: Reviewer) -> dict[int, str]:
    """The cells of a row the person changed on the page: each comes with the value the page
    showed (`was-`), and only a different one counts. So a cell nobody touched is never stored
    (a browser drops line breaks from a text box; a second tab may have corrected it since)."""
    cells = {}
    for index, _header in reviewer.columns:
        name = f"cell-{number}-{index}"
        if name not in request.form:
            continue
        value = request.form[name].replace("\r\n", "\n")
        shown = request.form.get(f"was-{number}-{index}")
        if shown is not None and value == shown.replace("\r\n", "\n"):
            continue
        cells[index] = value
    return cells


@bp.post("/<job_id>/review")
@login_required
def save_review_page(job_id: str) -> BaseResponse:
    """Save every row of the page as the form left it (the way without JavaScript)."""
    job = locked_draft(job_id)
    reviewer = _reviewer(job)
    numbers = [n for n in map(_number, request.form.getlist("rows")) if n is not None]
    fixed = 0
    for number in numbers[: PAGE_SIZE * 2]:
        row = reviewer.save(
            number, _cells_of(number, reviewer), skip=bool(request.form.get(f"skip-{number}"))
        )
        fixed += bool(row and row.fixed)
    corrections_saved(job)
    db.session.commit()
    flash(f"Saved. {fixed:,} of the {len(numbers):,} rows on this page would now be imported.")
    return redirect(_here(job), 303)


@bp.post("/<job_id>/review/row")
@login_required
def save_review_row(job_id: str) -> Any:
    """Save one row (htmx, when a cell changes; `row` names it) and return it as validated."""
    job = locked_draft(job_id)
    reviewer = _reviewer(job)
    number = _int("row")
    if number is None:
        abort(400)
    row = reviewer.save(
        number, _cells_of(number, reviewer), skip=bool(request.form.get(f"skip-{number}"))
    )
    if row is None:
        abort(404)
    corrections_saved(job)
    db.session.commit()
    if not is_htmx():
        return redirect(_here(job), 303)
    return render_template(
        "wizard/_review_row.html",
        job=job,
        row=row,
        columns=reviewer.columns,
        swapped=True,
        totals=reviewer.totals(),
        followed=job.follow_up_of,
        corrected=len(corrected_row_numbers(job.id)) if job.follow_up_of else 0,
    )


@bp.post("/<job_id>/review/bulk")
@login_required
def review_bulk(job_id: str) -> BaseResponse:
    """Fix every row with one problem at once, or trim / lower-case a column."""
    job = locked_draft(job_id)
    reviewer = _reviewer(job)
    action = request.form.get("action", "")
    if action == "country":
        key = request.form.get("bulk_problem", "")
        region = request.form.get("region", "")
        if key not in dict(reviewer.filters()) or region not in dict(countries()):
            abort(400)
        count = reviewer.read_as_country(key, region)
        cells = "cell" if count == 1 else "cells"
        flash(
            f"{problem_label(job, key)}: {count:,} {cells} read as numbers of "
            f"{dict(countries())[region]} and fixed."
        )
    elif action in ("set", "clear", "skip"):
        key = request.form.get("bulk_problem", "")
        if key not in dict(reviewer.filters()):
            abort(400)
        value = request.form.get("value", "")
        if action == "set" and not value.strip():
            flash("Type the value to put in those cells.", "error")
            return redirect(_here(job), 303)
        count = reviewer.fix_problem(key, action, value)
        done = {"set": f"set to “{value}”", "clear": "cleared", "skip": "skipped"}[action]
        what = ("row" if action == "skip" else "cell") + ("" if count == 1 else "s")
        flash(f"{problem_label(job, key)}: {count:,} {what} {done}.")
    elif action in ("trim", "lower"):
        index = _int("column")
        if index is None or index not in dict(reviewer.columns):
            abort(400)
        count = reviewer.transform_column(index, action)
        done = "extra spaces removed" if action == "trim" else "changed to lower case"
        cells = "cell" if count == 1 else "cells"
        flash(f"“{dict(reviewer.columns)[index]}”: {count:,} {cells} {done}.")
    else:
        abort(400)
    corrections_saved(job)
    db.session.commit()
    return redirect(_here(job), 303)


# -- follow-ups: the refused rows of a finished import ---------------------------------------


@bp.app_context_processor
def follow_up_helpers() -> dict[str, Any]:
    def follow_up_facts(job: ImportJob) -> dict[str, Any]:
        followed = db.session.get(ImportJob, job.follow_up_of) if job.follow_up_of else None
        follow_up = follow_up_of(job) if job.status != ImportStatus.DRAFT else None
        return {
            "followed": followed,
            "follow_up": follow_up,
            "can": follow_up is None and can_follow_up(job),
        }

    return {"follow_up_facts": follow_up_facts}


@bp.post("/<job_id>/follow-up")
@login_required
def follow_up(job_id: str) -> BaseResponse:
    """Open the review of a finished import's refused rows (a follow-up draft, made once)."""
    job = get_scoped_or_404(ImportJob, job_id)
    try:
        draft = open_follow_up(job, current_user.id)
    except NothingToFollowUp as exc:
        flash(str(exc), "error")
        return redirect(url_for("history.import_detail", job_id=job.id), 303)
    if draft.status != ImportStatus.DRAFT:
        return redirect(url_for("history.import_detail", job_id=draft.id), 303)
    return redirect(url_for("wizard.review", job_id=draft.id), 303)


@bp.post("/<job_id>/review/start")
@login_required
def start_follow_up(job_id: str) -> BaseResponse:
    """Import the corrected rows of a follow-up (once, even from two tabs)."""
    job = locked_draft(job_id)
    if not job.follow_up_of:
        db.session.rollback()
        return redirect(url_for("wizard.confirm", job_id=job.id), 303)
    reason = why_not_startable(db.session.get(ImportJob, job.follow_up_of))
    if reason or not corrected_row_numbers(job.id):
        db.session.rollback()
        flash(
            reason or "Correct at least one row first: only the rows you fixed are imported.",
            "error",
        )
        return redirect(url_for("wizard.review", job_id=job.id), 303)
    try:
        queue_draft_import(job)
    except QUEUE_ERRORS:
        db.session.rollback()
        flash("The import could not be started: the job queue is not reachable. Try again in a "
              "minute; your corrections are saved.", "error")  # fmt: skip
        return redirect(url_for("wizard.review", job_id=job.id), 303)
    return redirect(url_for("wizard.job", job_id=job.id), 303)
