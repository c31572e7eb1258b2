"""Cell text a spreadsheet will not run as a formula: the one rule the export writers, the
import's error reports and previews, and the validator's reading of such cells share.

OWASP's advice for CSV injection: a cell starting with one of `FORMULA_STARTS` is prefixed
with `'`, unless it is a plain number (a leading sign is common in phone numbers and amounts).
"""

from __future__ import annotations

import re

FORMULA_STARTS = "=+-@\t\r"
"""OWASP's list of characters that make a spreadsheet read a cell as a formula."""

PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?").fullmatch
"""A plain number, which is left as it is."""

SQL_PLAIN_NUMBER = "^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?$"
"""`PLAIN_NUMBER` for PostgreSQL's regular expressions, for CSV files the database writes."""


def neutralize(value: str) -> str:
    """Prefix a value a spreadsheet would run as a formula with `'`, unless it is a plain number."""
    if value and value[0] in FORMULA_STARTS and not PLAIN_NUMBER(value):
        return "'" + value
    return value
