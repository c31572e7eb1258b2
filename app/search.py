"""Search by "contains": the user's text is matched literally, its LIKE wildcards escaped."""

from __future__ import annotations

from typing import Any

from sqlalchemy.sql.elements import ColumnElement

LIKE_ESCAPE = "\\"


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching values that hold `text` (lowercased); `%`, `_` and `\\` are literal."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains(column: Any, text: str) -> ColumnElement[bool]:
    """`column LIKE '%text%'` with `text` taken literally; lowercase the column for any case."""
    return column.like(contains_pattern(text), escape=LIKE_ESCAPE)
