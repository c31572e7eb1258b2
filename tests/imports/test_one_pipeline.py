"""One pipeline, three uses: the import, the dry run and the refused-rows report read a file
through the same loop (`app.imports.pipeline`), so they refuse the same rows for the same
reasons, corrections and skipped rows included."""

from __future__ import annotations

import ast
import csv
import io
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.imports.dry_run import run_dry_run
from app.imports.error_report import refused_rows_csv
from app.imports.importing import run_import
from app.imports.options import OptionsError
from app.imports.review import reviewer_for
from app.models import ImportJob, ImportRowError, RefusedRow, Tenant
from tests.imports.test_review import draft

pytestmark = pytest.mark.both_databases

APP = Path(__file__).resolve().parents[2] / "app"
MAPPING = {"Email": "email", "Name": "first_name", "Phone": "phone", "Joined": "custom:joined:date"}
ROWS = [
    ["Email", "Name", "Phone", "Joined"],
    ["ann@x.com", "Ann", "+44 20 7946 0958", "2024-01-02"],  # row 2: fine
    ["bob-at-x.com", "Bob", "12", "2024-01-03"],  # 3: two problems in one row
    ["cy@x.com", "Cy", "", "someday"],  # 4: not a date (a custom field's declared type)
    ["di@x.com", "Di", "nonsense", ""],  # 5: corrected in the review
    ["", "Eve", "", ""],  # 6: skipped in the review
    ["fay@x.com", '=HYPERLINK("x")', "", "", "stray"],  # 7: a value in a column with no name
    ["gus@x.com", "Gus", "", ""],  # 8: fine
]


def reviewed_draft(tenant: Tenant) -> ImportJob:
    """A draft of ROWS whose dry run ran, with row 5 corrected and row 6 skipped."""
    job = draft(tenant, ROWS, MAPPING)  # phone checks on, GB by default, dry run done
    reviewer = reviewer_for(job)
    assert reviewer is not None
    assert reviewer.save(5, {2: "020 7946 0960"}, skip=False).fixed  # type: ignore[union-attr]
    assert reviewer.save(6, {}, skip=True).skipped  # type: ignore[union-attr]
    db.session.commit()
    return job


def report_rows(job: ImportJob) -> dict[int, str]:
    """The refused-rows report's rows: number -> messages."""
    text = b"".join(refused_rows_csv(job, batch_size=2)).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["Email", "Name", "Phone", "Joined", "row", "error"]
    cells = {int(line[-2]): line[:-2] for line in lines[1:]}
    if 7 in cells:  # a formula-like cell comes back inert for a spreadsheet
        assert cells[7][:2] == ["fay@x.com", '\'=HYPERLINK("x")']
    return {int(line[-2]): line[-1] for line in lines[1:]}


@pytest.mark.parametrize("parallel_rows", [1, 20_000], ids=["second-process", "in-process"])
def test_the_import_the_dry_run_and_the_report_refuse_the_same_rows_alike(
    app: Flask, tenant: Tenant, parallel_rows: int
) -> None:
    app.config["IMPORT_PARALLEL_ROWS"] = parallel_rows
    job = reviewed_draft(tenant)

    # the dry run, again, after the review: rows 5 and 6 are no longer refused
    run_dry_run(job.id, batch_size=2)
    db.session.refresh(job)
    dry: dict[int, list[str]] = {}
    for error in job.dry_run["errors"]:
        dry.setdefault(error["row"], []).append(error["message"])
    # the review keeps every row it was shown, corrected and skipped ones marked
    recorded = db.session.scalars(
        select(RefusedRow.row_number).where(RefusedRow.import_job_id == job.id)
    ).all()
    assert sorted(recorded) == [3, 4, 5, 6, 7]
    report = report_rows(job)

    job.status = "pending"
    db.session.commit()
    job = run_import(job.id, batch_size=2)
    assert job.status == "completed"
    imported: dict[int, list[str]] = {}
    for error in db.session.scalars(
        select(ImportRowError)
        .where(ImportRowError.import_job_id == job.id)
        .order_by(ImportRowError.row_number, ImportRowError.id)
    ):
        imported.setdefault(error.row_number, []).append(error.message)

    assert sorted(dry) == sorted(report) == sorted(imported) == [3, 4, 7]
    for row, messages in imported.items():
        assert report[row] == " ".join(messages) == " ".join(dry[row])
    assert "not a valid email" in report[3].lower() and "phone" in report[3].lower()
    assert "date" in report[4].lower()
    assert report[7] == (
        "Row 7 has 5 cells but the header has 4 columns: check for an unquoted delimiter in "
        "this row."
    )
    assert job.dry_run["error_rows"] == 3
    assert (job.created_count, job.error_count) == (3, 3)  # rows 2, 5 (corrected) and 8
    assert (job.corrected_rows, job.review_skipped_rows) == (1, 1)


def test_the_report_is_refused_before_its_first_byte_when_the_mapping_no_longer_fits(
    tenant: Tenant,
) -> None:
    job = reviewed_draft(tenant)
    job.import_options = {**job.import_options, "field_mapping": {"Gone": "email"}}
    db.session.commit()

    with pytest.raises(OptionsError):
        refused_rows_csv(job)


PIPELINE_ONLY = {"validated_batches", "validated_in_child", "prefetch", "RowValidator"}


def test_only_the_pipeline_reads_an_import_file_in_batches_and_builds_its_validator() -> None:
    """The three uses go through `opened_source` and `feed`/`Source.batches`: none builds its
    own loop or validator (the mapping step's preview validates its ten rows itself)."""
    allowed = {APP / "imports" / "pipeline.py", APP / "imports" / "preview.py"}
    found: list[str] = []
    for path in sorted(APP.rglob("*.py")):
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            name = (
                node.func.id
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                else node.func.attr
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                else None
            )
            if name in PIPELINE_ONLY:
                found.append(f"{path.relative_to(APP.parent)}:{node.lineno} calls {name}")
    assert found == []
    web = [p for p in (APP / "web").rglob("*.py") if "open_table(" in p.read_text()]
    assert web == []  # the wizard and the API read a file's top through app/imports/uploads.py
