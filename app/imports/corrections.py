"""Corrections made in the browser, applied to the rows of the file as they are read.

The uploaded file stays as it came. A person's corrections (a cell's new value, or "skip this
row") are stored with the draft (`Correction`) and applied by row number wherever the file's
rows are read for the import: the import itself, its dry run and its error report. Row numbers,
the journal and the rollback stay those of the file.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from sqlalchemy import func, select

from app.extensions import db
from app.imports.readers.table import SourceRow
from app.models import Correction

# A row's corrections: the new value by column position; None means "skip this row".
RowFix = dict[int, str] | None
Corrections = dict[int, RowFix]


def load_corrections(job_id: uuid.UUID) -> Corrections:
    """Every correction of an import, by row number (small: only rows a person touched)."""
    fixes: Corrections = {}
    for row, column, value in db.session.execute(
        select(Correction.row_number, Correction.column_index, Correction.value).where(
            Correction.import_job_id == job_id
        )
    ):
        if column == Correction.SKIP_ROW:
            fixes[row] = None
        elif (cells := fixes.setdefault(row, {})) is not None:
            cells[column] = value or ""
    return fixes


def corrected(source: SourceRow, fix: dict[int, str]) -> SourceRow:
    """The row with its corrected cells. A row that could not be read and was corrected is read
    as its corrected cells: the person saw them and fixed what was wrong."""
    values = list(source.values)
    if fix and max(fix) >= len(values):
        values += [""] * (max(fix) + 1 - len(values))
    for column, value in fix.items():
        values[column] = value
    return replace(source, values=values, error=None)


def correction_counts(job_id: uuid.UUID) -> tuple[int, int]:
    """(rows with corrected cells, rows skipped) of an import's corrections."""
    skip = Correction.column_index == Correction.SKIP_ROW
    skipped = select(Correction.row_number).where(Correction.import_job_id == job_id, skip)
    corrected_rows = db.session.scalar(
        select(func.count(func.distinct(Correction.row_number))).where(
            Correction.import_job_id == job_id,
            ~skip,
            Correction.row_number.not_in(skipped),
        )
    )
    skipped_rows = db.session.scalar(select(func.count()).select_from(skipped.subquery()))
    return corrected_rows or 0, skipped_rows or 0
