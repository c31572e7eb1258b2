"""A large workbook's reading process parses it while the import measures its grid.

calamine spends about a second on a 100k-row sheet before the first row, and the grid check
(grid bombs, `check_package`) most of a second again: the import checks the ZIP's directory
(milliseconds), starts the reading process, its address space capped, and measures the grid
meanwhile; it takes no batch before the check passed.
"""

from __future__ import annotations

import io
import os
import resource
import time
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flask import Flask
from sqlalchemy import func, select

import app.imports.importing as importing
from app.extensions import db
from app.imports.importing import run_import
from app.imports.options import ImportOptions
from app.imports.pipeline import Source, opened_source
from app.imports.service import create_import_job, store_upload
from app.models import Contact, CustomField, ImportEvent, ImportJob, Tenant
from tests.imports.test_hostile_files import far_cell_sheet, workbook_with_sheet

pytestmark = pytest.mark.both_databases

MAPPING = {"Email": "email", "Name": "first_name", "Score": "score:number"}


def workbook(rows: int, write_only: bool = False) -> bytes:
    """A workbook of `rows` contacts; openpyxl's write-only mode states no extent."""
    book = openpyxl.Workbook(write_only=write_only)
    sheet = book.create_sheet("People") if write_only else book.active
    sheet.append(["Email", "Name", "Score"])
    for n in range(rows):
        sheet.append([f"p{n}@example.com", f"P{n}", n])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def stored_job(tenant: Tenant, content: bytes, mapping: dict[str, str] | None = None) -> ImportJob:
    key, size = store_upload(tenant.id, io.BytesIO(content), "people.xlsx")
    options = ImportOptions(
        file_name="people.xlsx", file_key=key, field_mapping=dict(mapping or MAPPING)
    )
    return create_import_job(tenant.id, options, file_size=size)


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the import did, in order: reading processes started, package checks."""
    seen: list[str] = []
    start, check = Source.in_child, importing.check_source

    def in_child(self: Source, *args: Any, **kwargs: Any) -> Any:
        seen.append(f"child checked={kwargs.get('checked', True)}")
        return start(self, *args, **kwargs)

    def check_source(*args: Any, **kwargs: Any) -> None:
        seen.append("check")
        check(*args, **kwargs)

    monkeypatch.setattr(Source, "in_child", in_child)
    monkeypatch.setattr(importing, "check_source", check_source)
    return seen


@pytest.mark.parametrize("write_only", [False, True], ids=["stated-extent", "stated-size"])
def test_a_large_workbook_is_parsed_while_its_package_is_checked(
    app: Flask, tenant: Tenant, steps: list[str], write_only: bool
) -> None:
    app.config["IMPORT_PARALLEL_ROWS"] = 100
    job = run_import(stored_job(tenant, workbook(400, write_only)).id, batch_size=64)

    assert job.status == "completed", job.failure_message
    assert steps == ["child checked=False", "check"]
    assert (job.created_count, job.total_rows, job.error_count) == (400, 400, 0)
    scores = db.session.scalars(select(Contact.custom_fields)).all()
    assert sorted(c["score"] for c in scores) == list(range(400))  # typed as a number


def test_a_workbook_the_dry_run_counted_is_read_early_too(
    app: Flask, tenant: Tenant, steps: list[str]
) -> None:
    """A wizard import knows its rows from the dry run: the stated extent is not needed."""
    app.config["IMPORT_PARALLEL_ROWS"] = 100
    job = stored_job(tenant, workbook(300))
    job.total_rows = 300
    db.session.commit()

    job = run_import(job.id, batch_size=64)

    assert job.status == "completed" and job.created_count == 300
    assert steps == ["child checked=False", "check"]


def test_a_workbook_the_capped_process_cannot_hold_is_read_again_checked(
    app: Flask, tenant: Tenant, steps: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A legitimate sheet may need more than the unchecked process may take (a far cell under
    the grid limit): once the grid passed, a process without the cap reads it."""
    import app.imports.pipeline as pipeline

    open_as, worker = pipeline.open_as, os.getpid()

    def over_the_cap(path: str, settings: Any, **kwargs: Any) -> Any:
        if os.getpid() != worker and not kwargs.get("check", True):  # the capped process
            raise MemoryError("the sheet needs more than the cap")
        return open_as(path, settings, **kwargs)

    monkeypatch.setattr(pipeline, "open_as", over_the_cap)
    app.config["IMPORT_PARALLEL_ROWS"] = 100
    job = run_import(stored_job(tenant, workbook(300)).id, batch_size=64)

    assert job.status == "completed", job.failure_message
    assert steps == ["child checked=False", "check", "child checked=True"]
    assert (job.created_count, job.error_count) == (300, 0)


def test_a_small_workbook_is_checked_then_read_in_process(
    app: Flask, tenant: Tenant, steps: list[str]
) -> None:
    job = run_import(stored_job(tenant, workbook(30)).id, batch_size=8)

    assert job.status == "completed" and job.created_count == 30
    assert steps == ["check"]


def test_a_field_typed_meanwhile_by_a_colleague_reads_the_workbook_again(
    app: Flask, tenant: Tenant, steps: list[str]
) -> None:
    """The reading process started with the mapping's type (text); a colleague's field made it a
    number before the import created it: the rows are read again, as numbers."""
    from tests.imports.test_named_objects import (
        a_colleague_creates_them_right_after_the_import_looks,
    )

    app.config["IMPORT_PARALLEL_ROWS"] = 100
    mapping = {"Email": "email", "Name": "first_name", "Score": "zip:text"}
    with a_colleague_creates_them_right_after_the_import_looks(tenant):
        job = run_import(stored_job(tenant, workbook(300), mapping).id, batch_size=64)

    assert job.status == "completed", job.failure_message
    assert steps == ["child checked=False", "check", "child checked=True"]
    field = db.session.scalar(select(CustomField.field_type).where(CustomField.key == "zip"))
    assert field == "number"
    zips = sorted(c["zip"] for c in db.session.scalars(select(Contact.custom_fields)))
    assert zips == list(range(300))


def test_a_grid_bomb_read_early_fails_with_the_check_message_and_writes_nothing(
    app: Flask, tenant: Tenant, tmp_path: Path, steps: list[str]
) -> None:
    app.config["IMPORT_PARALLEL_ROWS"] = 1
    bomb = workbook_with_sheet(
        tmp_path / "grid.xlsx",
        far_cell_sheet('<row r="1000000"><c r="XFD1000000"><v>1</v></c></row>'),
    )
    started = time.monotonic()

    job = run_import(stored_job(tenant, bomb.read_bytes(), {"Email": "email"}).id)

    assert steps == ["child checked=False", "check"]
    assert job.status == "failed"
    assert job.failure_message.startswith("A sheet of this workbook has cells as far down as row ")
    assert db.session.scalar(select(func.count(Contact.id))) == 0
    assert db.session.scalar(select(func.count(ImportEvent.id))) == 0
    assert time.monotonic() - started < 15


def test_a_tiny_zip_bomb_is_refused_before_the_worker_opens_the_workbook(
    app: Flask, tenant: Tenant, tmp_path: Path, steps: list[str]
) -> None:
    """40 MB of elements in the styles part, 50 KB packed: the streaming reader that reads the
    header holds a part like this whole. The ZIP's directory gives it away first."""
    app.config["IMPORT_PARALLEL_ROWS"] = 1
    styles = b'<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    bomb = workbook_with_sheet(
        tmp_path / "styles.xlsx",
        far_cell_sheet(""),
        **{"xl/styles.xml": styles + b"<x/>" * 10_000_000 + b"</styleSheet>"},
    )
    assert bomb.stat().st_size < 200_000
    memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()

    job = run_import(stored_job(tenant, bomb.read_bytes(), {"Email": "email"}).id)

    assert job.status == "failed"
    assert job.failure_message.startswith("This workbook looks damaged or unsafe")
    assert steps == []  # no reading process, no grid measured
    assert time.monotonic() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - memory < 100 * 1024  # KB


def test_an_unchecked_reading_process_meeting_a_grid_bomb_ends_alone(
    app: Flask, tenant: Tenant, tmp_path: Path
) -> None:
    """12,500 rows by 16,384 columns: 6.5 GB of calamine cells, which a machine with the memory
    would let it allocate without the cap. The process ends; this one is untouched."""
    bomb = workbook_with_sheet(
        tmp_path / "grid.xlsx",
        far_cell_sheet('<row r="12500"><c r="XFD12500"><v>1</v></c></row>'),
    )
    job = stored_job(tenant, bomb.read_bytes(), {"Email": "email"})
    memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()

    with opened_source(job, stream=True, check=False) as source:
        reader = source.in_child(checked=False)
        with pytest.raises(RuntimeError, match=r"stopped unexpectedly|MemoryError"):
            list(reader)

    assert time.monotonic() - started < 30
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - memory < 100 * 1024  # KB
