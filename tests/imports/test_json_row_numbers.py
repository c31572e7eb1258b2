"""Rows of JSON files are numbered as a person finds them: an NDJSON line, a JSON array's record.

The same number and word reach every place a row is named: the reader's row errors, the
validation messages, the job's first errors and the error report; a resumed import still skips
exactly the rows it had done.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.imports import batch_commit
from app.imports.error_report import refused_rows_csv
from app.imports.importing import run_import
from app.imports.mapping import parse_target
from app.imports.parsing import open_table
from app.imports.preview import preview_rows
from app.imports.validation import ValidationOptions
from app.models import ImportJob, ImportRowError, Tenant
from tests.conftest import make_tenant
from tests.imports.conftest import ImportRunner, new_job, snapshot

MAPPING = {"email": "email", "first": "first_name"}
RECORDS: list[object] = [
    {"email": "ann@example.com", "first": "Ann"},
    {"email": "not-an-email", "first": "Bad"},
    {"first": "NoEmail"},
    [1],
]
# The same records one a line, with a blank line after the first: lines 1, 3, 4 and 5.
NDJSON = "\n".join([json.dumps(RECORDS[0]), "", *map(json.dumps, RECORDS[1:])]).encode() + b"\n"
ARRAY = json.dumps(RECORDS).encode()


def errors_by_row(job: ImportJob) -> dict[int, str]:
    return {e["row"]: e["message"] for e in job.errors}


def error_report(app: Flask, job: ImportJob) -> list[list[str]]:
    text = app.extensions["storage"].open(job.error_report_key).read().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_the_third_line_of_an_ndjson_file_is_line_3_and_a_third_record_is_record_3(
    tmp_path: Path,
) -> None:
    ndjson = tmp_path / "people.ndjson"
    ndjson.write_bytes(b'{"email": "a@example.com"}\n{"email": "b@example.com"}\n[3]\n')
    array = tmp_path / "people.json"
    array.write_bytes(b'[{"email": "a@example.com"}, {"email": "b@example.com"}, [3]]')

    for path, label in ((ndjson, "Line"), (array, "Record")):
        with open_table(str(path), "json") as table:
            rows = list(table.rows())
        assert table.info.row_label == label
        assert [row.line for row in rows] == [1, 2, 3]
        assert rows[2].error is not None and rows[2].error.startswith(f"{label} 3 is a list")


def test_ndjson_import_errors_name_the_line_on_the_job_and_in_the_report(
    run: ImportRunner, tenant: Tenant, app: Flask
) -> None:
    job = run(tenant, NDJSON, file_name="people.ndjson", file_type="json", mapping=MAPPING)

    assert (job.status, job.created_count, job.error_count) == ("completed", 1, 3)
    errors = errors_by_row(job)
    assert sorted(errors) == [3, 4, 5]
    assert "'not-an-email' in column 'email' is not a valid email address" in errors[3]
    assert errors[4] == (
        "Line 4 has no email address in column 'email': add one or remove the line."
    )
    assert errors[5].startswith("Line 5 is a list, not an object")
    report = error_report(app, job)
    assert report[0] == ["email", "first", "line", "error"]
    assert [(line[2], line[3][:6]) for line in report[1:]] == [
        ("3", "'not-a"),
        ("4", "Line 4"),
        ("5", "Line 5"),
    ]


def test_json_array_import_errors_name_the_record_on_the_job_and_in_the_report(
    run: ImportRunner, tenant: Tenant, app: Flask
) -> None:
    job = run(tenant, ARRAY, file_name="people.json", file_type="json", mapping=MAPPING)

    assert (job.created_count, job.error_count) == (1, 3)
    errors = errors_by_row(job)
    assert sorted(errors) == [2, 3, 4]
    assert errors[3] == (
        "Record 3 has no email address in column 'email': add one or remove the record."
    )
    assert errors[4].startswith("Record 4 is a list, not an object")
    report = error_report(app, job)
    assert report[0] == ["email", "first", "record", "error"]
    assert [line[2] for line in report[1:]] == ["2", "3", "4"]


def test_csv_rows_keep_the_header_as_row_1(run: ImportRunner, tenant: Tenant, app: Flask) -> None:
    content = b"email,first\r\nann@example.com,Ann\r\n,NoEmail\r\n"
    job = run(tenant, content, mapping=MAPPING)

    assert errors_by_row(job) == {
        3: "Row 3 has no email address in column 'email': add one or remove the row."
    }
    assert error_report(app, job)[0] == ["email", "first", "row", "error"]


@pytest.mark.parametrize(
    ("name", "content", "label", "number"),
    [("people.ndjson", NDJSON, "Line", 4), ("people.json", ARRAY, "Record", 3)],
)
def test_the_wizards_preview_and_error_file_use_the_sources_numbers(
    tenant: Tenant, tmp_path: Path, name: str, content: bytes, label: str, number: int
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    targets = {"email": parse_target("email"), "first": parse_target("first_name")}
    with open_table(str(path), "json") as table:
        _columns, rows = preview_rows(
            table.headers,
            table.rows(),
            targets,
            {},
            ValidationOptions(),
            table.info.row_label,
        )
    draft = new_job(tenant, content, name, file_type="json", mapping=MAPPING)
    text = b"".join(refused_rows_csv(draft)).decode("utf-8-sig")
    report = list(csv.reader(io.StringIO(text)))

    no_email = next(row for row in rows if row.line == number)
    assert no_email.cells[0].error == (
        f"{label} {number} has no email address in column 'email': "
        f"add one or remove the {label.lower()}."
    )
    assert report[0] == ["email", "first", label.lower(), "error"]
    assert [line[2] for line in report[1:]][1] == str(number)


class Crash(BaseException):
    """Stands for the worker being killed between two batches."""


def test_a_resumed_ndjson_import_skips_exactly_the_rows_it_had_done(
    tenant: Tenant, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint counts rows read, not line numbers: blank lines must not shift it."""
    lines = []
    for i in range(12):
        lines.append(json.dumps({"email": f"p{i}@example.com", "first": f"Name {i}"}))
        if i % 3 == 0:
            lines.append("")  # blank lines make line numbers run ahead of the row count
    lines.append(json.dumps({"email": "bad", "first": "Bad"}))
    content = ("\n".join(lines) + "\n").encode()
    reference = run_import(
        new_job(
            make_tenant("Reference"), content, "p.ndjson", file_type="json", mapping=MAPPING
        ).id,
        batch_size=4,
    )

    job = new_job(tenant, content, "p.ndjson", file_type="json", mapping=MAPPING)
    real = batch_commit.write_one_batch
    calls = []

    def crash_on_third(*args: object) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise Crash()
        real(*args)

    monkeypatch.setattr(batch_commit, "write_one_batch", crash_on_third)
    with pytest.raises(Crash):
        run_import(job.id, batch_size=4)
    db.session.rollback()
    db.session.refresh(job)
    assert job.status == "processing" and job.checkpoint_row == 8  # two batches of four rows
    monkeypatch.setattr(batch_commit, "write_one_batch", real)
    job = run_import(job.id, batch_size=4)

    assert (job.status, job.processed_rows, job.total_rows) == ("completed", 13, 13)
    assert (job.created_count, job.error_count) == (12, 1)
    assert snapshot(tenant.id).keys() == snapshot(reference.tenant_id).keys()
    assert errors_by_row(job) == errors_by_row(reference)
    assert list(errors_by_row(job)) == [len(lines)]  # the last line of the file
    stored = db.session.scalars(
        select(ImportRowError.row_number).where(ImportRowError.import_job_id == job.id)
    ).all()
    assert stored == [len(lines)]
