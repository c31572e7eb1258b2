"""An import reads a workbook once: the worker streams its header, a row count and (for a small
file) its rows; only the reading process of a large file has calamine parse the sheet.

calamine parses a whole worksheet into memory when it opens it. The worker used to do that
twice before the reading process did it again (the header, then the progress count): a
50,000-row workbook imported at 7,055 rows/s with the worker at 203 MB, and at 9,486 rows/s
with the worker at 153 MB once it streamed (`docs/benchmarks.md`).
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import Workbook

from app.imports.readers import books
from app.models import Tenant
from tests.imports.conftest import ImportRunner, snapshot

pytestmark = pytest.mark.both_databases


def test_an_import_opens_no_calamine_workbook_in_the_worker(
    run: ImportRunner, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["Email", "First"])
    for i in range(30):
        sheet.append([f"p{i}@example.com", f"P{i}"])
    content = io.BytesIO()
    book.save(content)
    opened: list[str] = []
    real = books.CalamineBook.__init__

    def counted(self: Any, path: str, *args: Any, **kwargs: Any) -> None:
        opened.append(path)
        real(self, path, *args, **kwargs)

    monkeypatch.setattr(books.CalamineBook, "__init__", counted)
    job = run(
        tenant,
        content.getvalue(),
        file_name="people.xlsx",
        file_type="xlsx",
        mapping={"Email": "email", "First": "first_name"},
    )
    assert (job.status, job.created_count, job.total_rows) == ("completed", 30, 30)
    assert snapshot(tenant.id)["p29@example.com"]["first_name"] == "P29"
    assert opened == []  # header, progress count and rows, all streamed
