"""The review of refused rows before an import: page through them, correct them.

A draft's dry run records every row it would refuse (`refused_rows`: the original cells and
the problems), and every row a person already corrected or skipped. The review table pages through
them by row number, optionally only the rows with one problem ("invalid phone numbers in
'Mobile'"); a correction is validated by the same `RowValidator` as the import, at once, and
stored as a `Correction` that the import applies as it reads the row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from phonenumbers import SUPPORTED_REGIONS
from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.imports.corrections import Corrections, corrected
from app.imports.dry_run_result import DryRunResult
from app.imports.mapping import MappingError
from app.imports.options import ImportOptions
from app.imports.pipeline import declared_custom_types, new_validator
from app.imports.readers.table import SourceRow
from app.imports.refused_rows import errors_of, keys_text, problems_of, split_key
from app.imports.validation import CleanRow, RowError, RowValidator
from app.models import Correction, ImportJob, RefusedRow
from app.models.jobs import RunStatus
from app.models.types import utcnow

PAGE_SIZE = 50
MAX_CELL_LENGTH = 10_000


# -- the table ------------------------------------------------------------------------------


@dataclass
class ReviewRow:
    """One row of the review table as it would be imported now."""

    number: int
    cells: dict[int, str]  # the value now, by column position
    original: dict[int, str]
    problems: dict[int, list[str]]  # messages by column position
    row_problems: list[str]  # messages about the row as a whole
    skipped: bool
    normalized: dict[int, str] = field(default_factory=dict)  # what a fixed cell becomes

    @property
    def fixed(self) -> bool:
        return not self.skipped and not self.problems and not self.row_problems

    def corrected(self, index: int) -> bool:
        return self.cells.get(index, "") != self.original.get(index, "")


@dataclass
class ReviewPage:
    rows: list[ReviewRow]
    columns: list[tuple[int, str]]
    problem: str | None
    next_after: int | None
    previous_before: int | None
    first_page: bool


@dataclass
class ReviewTotals:
    """Rows in the review: still refused, fixed by corrections, skipped."""

    rows: int
    refused: int
    skipped: int

    @property
    def fixed(self) -> int:
        return max(self.rows - self.refused - self.skipped, 0)


class Reviewer:
    """The review of one draft: its columns, its validator and its corrections."""

    def __init__(
        self, job: ImportJob, validator: RowValidator, headers: list[str], shown: list[int]
    ):
        self.job = job
        self.validator = validator
        self.headers = headers
        self.columns = [(i, headers[i]) for i in shown]
        self._shown = set(shown)

    # reading

    def totals(self) -> ReviewTotals:
        of_job = RefusedRow.import_job_id == self.job.id
        rows = db.session.scalar(select(func.count()).select_from(RefusedRow).where(of_job)) or 0
        skipped_rows = select(Correction.row_number).where(
            Correction.import_job_id == self.job.id,
            Correction.column_index == Correction.SKIP_ROW,
        )
        refused = db.session.scalar(
            select(func.count())
            .select_from(RefusedRow)
            .where(
                of_job, RefusedRow.problem_keys != "", RefusedRow.row_number.not_in(skipped_rows)
            )
        )
        skipped = db.session.scalar(select(func.count()).select_from(skipped_rows.subquery()))
        return ReviewTotals(rows, refused or 0, skipped or 0)

    def page(
        self,
        problem: str | None = None,
        after: int | None = None,
        before: int | None = None,
        size: int = PAGE_SIZE,
    ) -> ReviewPage:
        """One page of rows in row order, after or before a row number (keyset paging)."""
        query = select(RefusedRow).where(RefusedRow.import_job_id == self.job.id)
        if problem:
            pattern = "%|" + _like_escaped(problem) + "|%"
            query = query.where(
                or_(
                    RefusedRow.problem_keys.like(pattern, escape="\\"),
                    RefusedRow.found_keys.like(pattern, escape="\\"),
                )
            )
        if before is not None:
            page = query.where(RefusedRow.row_number < before).order_by(
                RefusedRow.row_number.desc()
            )
        else:
            page = query.where(RefusedRow.row_number > (after or 0)).order_by(RefusedRow.row_number)
        records = list(db.session.scalars(page.limit(size)))
        if before is not None:
            records.reverse()
        fixes = self._fixes([r.row_number for r in records])
        rows = [self._row(r, fixes.get(r.row_number) or {}) for r in records]

        def any_row(condition: Any) -> bool:
            return db.session.scalar(select(query.where(condition).exists())) or False

        # whether rows lie before and after this page, asked of the table (an empty page, a
        # cursor past either end and a short last page all get the right links)
        if rows:
            earlier = any_row(RefusedRow.row_number < rows[0].number)
            later = any_row(RefusedRow.row_number > rows[-1].number)
        else:
            earlier = later = False
        return ReviewPage(
            rows=rows,
            columns=self.columns,
            problem=problem,
            next_after=rows[-1].number if later else None,
            previous_before=rows[0].number if earlier else None,
            first_page=not earlier and not (not rows and (after or before is not None)),
        )

    def row(self, number: int) -> ReviewRow | None:
        record = db.session.get(RefusedRow, (self.job.id, number))
        if record is None:
            return None
        return self._row(record, self._fixes([number]).get(number) or {})

    def filters(self) -> list[tuple[str, int]]:
        """Every kind of problem the dry run found, with how many rows had it."""
        result = DryRunResult.of(self.job)
        counts = result.problems if result is not None else {}
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    def _fixes(self, numbers: list[int] | None) -> Corrections:
        """The corrections of these rows (None: of every row), SKIP_ROW among the columns."""
        fixes: Corrections = {}
        if numbers is not None and not numbers:
            return fixes
        query = select(Correction.row_number, Correction.column_index, Correction.value).where(
            Correction.import_job_id == self.job.id
        )
        if numbers is not None:
            query = query.where(Correction.row_number.in_(numbers))
        for row, column, value in db.session.execute(query):
            cells = fixes.setdefault(row, {})
            assert cells is not None  # nosec B101 # only dicts are stored here
            cells[column] = value or ""
        return fixes

    def _fixes_of(self, records: list[RefusedRow]) -> Corrections:
        """The corrections of these rows (of every row when they are many: one plain read)."""
        return self._fixes([r.row_number for r in records] if len(records) < 1000 else None)

    def _row(self, record: RefusedRow, fix: dict[int, str]) -> ReviewRow:
        return self._checked(record, fix)[0]

    def _checked(self, record: RefusedRow, fix: dict[int, str]) -> tuple[ReviewRow, list[RowError]]:
        """The row as it would be imported now, and what is wrong with it (validated once)."""
        skipped = Correction.SKIP_ROW in fix
        cells_fix = {k: v for k, v in fix.items() if k != Correction.SKIP_ROW}
        original = list(record.cells)
        source = corrected(SourceRow(record.row_number, original), cells_fix)
        result = self.validator.validate(record.row_number, source.values)
        width = len(self.headers)
        values = [*source.values, *[""] * (width - len(source.values))]
        row = ReviewRow(
            number=record.row_number,
            cells={i: values[i] for i, _ in self.columns},
            original={i: (original[i] if i < len(original) else "") for i, _ in self.columns},
            problems={},
            row_problems=[],
            skipped=skipped,
        )
        errors = errors_of(result)
        if record.read_error and not cells_fix:  # nobody confirmed the cells of that row yet
            errors.append(RowError(record.row_number, None, "", record.read_error, "unreadable"))
        for error in errors:
            index = self.headers.index(error.column) if error.column in self.headers else None
            if index is None or index not in self._shown:
                row.row_problems.append(error.message)
            else:
                row.problems.setdefault(index, []).append(error.message)
        if isinstance(result, CleanRow) and not row.row_problems:
            row.normalized = self._normalized(result, row)
        return row, errors

    def _normalized(self, clean: CleanRow, row: ReviewRow) -> dict[int, str]:
        """What each corrected cell is imported as, where that differs from what was typed."""
        shown: dict[int, str] = {}
        for index, header in self.columns:
            if not row.corrected(index):
                continue
            value = self.validator.imported_value(header, clean)
            if value is not None and value != row.cells[index].strip():
                shown[index] = value
        return shown

    # writing

    def save(self, number: int, cells: dict[int, str], skip: bool) -> ReviewRow | None:
        """Store a row's cells as the person left them and whether to skip it; validate it."""
        record = db.session.get(RefusedRow, (self.job.id, number))
        if record is None:
            return None
        original = list(record.cells)
        for index, value in cells.items():
            if index not in self._shown:
                continue
            value = value[:MAX_CELL_LENGTH]
            before = original[index] if index < len(original) else ""
            _store(self.job.id, number, index, None if value == before else value)
        _store(self.job.id, number, Correction.SKIP_ROW, "" if skip else None)
        return self.refresh(record)

    def refresh(self, record: RefusedRow, fix: dict[int, str] | None = None) -> ReviewRow:
        """Validate a row with its corrections again and store its problems."""
        if fix is None:
            fix = self._fixes([record.row_number]).get(record.row_number) or {}
        row, errors = self._checked(record, fix)
        record.problems = problems_of(errors, self.headers)
        record.problem_keys = keys_text(errors)
        return row

    def fix_problem(self, problem: str, action: str, value: str = "") -> int:
        """Fix every row that has a problem now: `set` its cell to a value, `clear` the cell, or
        `skip` the row. Returns how many rows it changed."""
        column, _code = split_key(problem)
        index = self.headers.index(column) if column in self.headers else None
        records = self.rows_with(problem)
        if action != "skip" and (index is None or index not in self._shown):
            return 0
        for record in records:
            if action == "skip":
                _store(self.job.id, record.row_number, Correction.SKIP_ROW, "")
                continue
            assert index is not None  # nosec B101 # checked above for set and clear
            new = value[:MAX_CELL_LENGTH] if action == "set" else ""
            before = record.cells[index] if index < len(record.cells) else ""
            _store(self.job.id, record.row_number, index, None if new == before else new)
        self._refresh_all(records)
        return len(records)

    def read_as_country(self, problem: str, region: str) -> int:
        """Read every phone number with this problem as a number of `region` (a country code
        the number lacked); store the ones that are then valid. Returns how many it fixed."""
        column, _code = split_key(problem)
        index = self.headers.index(column) if column in self.headers else None
        if index is None or index not in self._shown or region not in SUPPORTED_REGIONS:
            return 0
        records = self.rows_with(problem)
        fixes = self._fixes_of(records)
        fixed = 0
        for record in records:
            before = record.cells[index] if index < len(record.cells) else ""
            now = (fixes.get(record.row_number) or {}).get(index, before)
            try:
                number = phonenumbers.parse(now, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                international = phonenumbers.PhoneNumberFormat.INTERNATIONAL
                _store(
                    self.job.id,
                    record.row_number,
                    index,
                    phonenumbers.format_number(number, international),
                )
                fixed += 1
        self._refresh_all(records)
        return fixed

    def transform_column(self, index: int, how: str) -> int:
        """Trim or lower-case one column of every row in the review; how many cells changed."""
        if index not in self._shown or how not in _TRANSFORMS:
            return 0
        records = self.all_rows()
        fixes = self._fixes(None)
        changed = 0
        for record in records:
            fix = fixes.get(record.row_number) or {}
            before = record.cells[index] if index < len(record.cells) else ""
            now = fix.get(index, before)
            new = _TRANSFORMS[how](now)
            if new != now:
                _store(self.job.id, record.row_number, index, None if new == before else new)
                changed += 1
        self._refresh_all(records)
        return changed

    def _refresh_all(self, records: list[RefusedRow]) -> None:
        fixes = self._fixes_of(records)
        for record in records:
            self.refresh(record, fixes.get(record.row_number) or {})

    def rows_with(self, problem: str) -> list[RefusedRow]:
        """The rows that have this problem now and are not skipped (a bulk fix's targets)."""
        return list(db.session.scalars(self._with(problem).order_by(RefusedRow.row_number)))

    def left(self, problem: str) -> int:
        """How many rows still have this problem (skipped ones left out)."""
        return (
            db.session.scalar(select(func.count()).select_from(self._with(problem).subquery())) or 0
        )

    def _with(self, problem: str) -> Any:
        pattern = "%|" + _like_escaped(problem) + "|%"
        skipped = select(Correction.row_number).where(
            Correction.import_job_id == self.job.id,
            Correction.column_index == Correction.SKIP_ROW,
        )
        return select(RefusedRow).where(
            RefusedRow.import_job_id == self.job.id,
            RefusedRow.problem_keys.like(pattern, escape="\\"),
            RefusedRow.row_number.not_in(skipped),
        )

    def all_rows(self) -> list[RefusedRow]:
        return list(
            db.session.scalars(
                select(RefusedRow)
                .where(RefusedRow.import_job_id == self.job.id)
                .order_by(RefusedRow.row_number)
            )
        )


def new_validator_for(
    headers: list[str],
    row_label: str,
    options: ImportOptions,
    targets: dict[str, Any],
    tenant_id: uuid.UUID,
) -> RowValidator:
    """The import's validator for a draft, without opening its file."""
    types = declared_custom_types(tenant_id, targets)
    return new_validator(headers, row_label, options, targets, types)


_TRANSFORMS = {"trim": lambda v: " ".join(v.split()), "lower": str.lower}


def reviewer_for(job: ImportJob) -> Reviewer | None:
    """The review of a draft whose dry run has finished; None before that."""
    result = DryRunResult.of(job)
    headers = list(result.headers) if result is not None else []
    if job.dry_run_status != RunStatus.COMPLETED or not headers:
        return None
    options = ImportOptions.from_dict(job.import_options or {})
    try:
        targets = options.targets()
        validator = new_validator_for(headers, job.row_label, options, targets, job.tenant_id)
    except (MappingError, ValueError):
        return None
    shown = [i for i, h in enumerate(headers) if h in targets and headers.index(h) == i]
    return Reviewer(job, validator, headers, shown)


def _store(job_id: uuid.UUID, number: int, index: int, value: str | None) -> None:
    """Set one correction (None removes it), safe against a second tab saving the same cell."""
    key = (
        Correction.import_job_id == job_id,
        Correction.row_number == number,
        Correction.column_index == index,
    )
    if value is None:
        db.session.execute(delete(Correction).where(*key))
        return
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    values = {
        "import_job_id": job_id,
        "row_number": number,
        "column_index": index,
        "value": value,
        "updated_at": utcnow(),
    }
    stmt = dialect.insert(Correction).values(**values)
    db.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["import_job_id", "row_number", "column_index"],
            set_={"value": value, "updated_at": values["updated_at"]},
        )
    )


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
