"""What the wizard shows before an import runs: the first rows as they would be stored, each
problem tied to its cell; and the error report's header (its rows: `error_report`).

Plain functions over plain values, built on `RowValidator`: no Flask, no database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from app.cell_text import neutralize
from app.imports.mapping import FieldTarget
from app.imports.parsing import SourceRow
from app.imports.validation import CleanRow, RowValidator, ValidationOptions

# Stands in for an invalid email while the other cells of its row are normalized for display.
_PLACEHOLDER_EMAIL = "preview@example.com"
_TAG_SEPARATORS = re.compile(r"[;,]")


@dataclass(frozen=True)
class PreviewColumn:
    """One mapped column of the preview: the file's header and where its values go."""

    header: str
    target: FieldTarget


@dataclass(frozen=True)
class PreviewCell:
    """A value as it would be stored (as text), or the problem that keeps its row out."""

    text: str
    error: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class PreviewRow:
    """One row of the file: its row number, its cells and a problem of the whole row, if any."""

    line: int
    cells: list[PreviewCell] = field(default_factory=list)
    error: str | None = None

    @property
    def is_valid(self) -> bool:
        """True when the row would be imported."""
        return self.error is None and all(cell.error is None for cell in self.cells)


def preview_rows(
    headers: list[str],
    rows: Iterable[SourceRow],
    mapping: dict[str, FieldTarget],
    custom_types: dict[str, str],
    options: ValidationOptions,
    row_label: str = "Row",
) -> tuple[list[PreviewColumn], list[PreviewRow]]:
    """Normalize rows as the import would; raises MappingError while the mapping is unusable."""
    validator = RowValidator(headers, mapping, custom_types, options, row_label)
    columns = [
        PreviewColumn(header, mapping[header])
        for header in headers
        if header in mapping and mapping[header].kind != "ignore"
    ]
    return columns, [_preview_row(validator, headers, columns, row) for row in rows]


def _preview_row(
    validator: RowValidator, headers: list[str], columns: list[PreviewColumn], row: SourceRow
) -> PreviewRow:
    values = [*row.values, *[""] * (len(headers) - len(row.values))]
    if row.error:
        cells = [PreviewCell(_raw(values, headers, c.header)) for c in columns]
        return PreviewRow(row.line, cells, row.error)
    result = validator.validate(row.line, values)
    if isinstance(result, CleanRow):
        return PreviewRow(row.line, [_cell(result, values, headers, c) for c in columns])

    by_column: dict[str | None, list[str]] = {}
    for error in result:
        by_column.setdefault(error.column, []).append(error.message)
    # Normalize the row's other cells by validating it again without the failing ones.
    patched = list(values)
    for failing in by_column:
        if failing in headers:
            is_email = _target_of(columns, failing) == ("standard", "email")
            patched[headers.index(failing)] = _PLACEHOLDER_EMAIL if is_email else ""
    clean = validator.validate(row.line, patched)
    cells = []
    for column in columns:
        messages = by_column.get(column.header)
        if messages or not isinstance(clean, CleanRow):
            cells.append(
                PreviewCell(_raw(values, headers, column.header), " ".join(messages or []) or None)
            )
        else:
            cells.append(_cell(clean, values, headers, column))
    row_error = " ".join(by_column.get(None, [])) or None
    return PreviewRow(row.line, cells, row_error)


def _target_of(columns: list[PreviewColumn], header: str) -> tuple[str, str | None]:
    """The (kind, key) a header is mapped to among the preview's columns."""
    for column in columns:
        if column.header == header:
            return column.target.kind, column.target.key
    return "ignore", None


def _raw(values: list[str], headers: list[str], header: str) -> str:
    return values[headers.index(header)].strip()


def _cell(
    clean: CleanRow, values: list[str], headers: list[str], column: PreviewColumn
) -> PreviewCell:
    target = column.target
    if target.kind == "tags":
        own = {
            part.strip().casefold()
            for part in _TAG_SEPARATORS.split(_raw(values, headers, column.header))
        }
        tags = tuple(tag for tag in clean.tags if tag.casefold() in own)
        return PreviewCell(", ".join(tags), tags=tags)
    if target.kind == "custom":
        return PreviewCell(display_value(clean.custom.get(str(target.key))))
    if target.key == "email":
        return PreviewCell(clean.email)  # the value the contact stores
    return PreviewCell(display_value(clean.fields.get(str(target.key))))


def display_value(value: object) -> str:
    """A stored value as a person reads it: booleans as Yes/No, whole numbers without '.0'."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def error_report_header(headers: list[str], row_label: str) -> list[str]:
    """The error report's header: the file's columns, then `row` (`line`, `record`) and `error`."""
    return [*map(neutralize, headers), row_label.lower(), "error"]
