"""The rows a draft's dry run would refuse, recorded for the review, and the keys that name
their problems ("invalid phone numbers in 'Mobile'") in the review's filters."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from sqlalchemy import delete
from sqlalchemy.engine import Connection

from app.extensions import db
from app.imports.bulk import insert_rows
from app.imports.validation import CleanRow, RowError, RowValidator
from app.models import RefusedRow


def problem_key(column: str | None, code: str) -> str:
    """One kind of problem in one column, as filters name it: the column's name in hex (a name
    may hold any character, `|` included, and a key must never be part of another), a dot,
    the code."""
    return f"{(column or '').encode().hex()}.{code}"


def split_key(key: str) -> tuple[str | None, str]:
    """The column (None: the row as a whole) and the code of a problem key."""
    hexed, _, code = key.partition(".")
    try:
        column = bytes.fromhex(hexed).decode()
    except ValueError:  # not a key this module made (e.g. a URL typed by hand)
        return None, ""
    return column or None, code


def keys_text(errors: list[RowError]) -> str:
    keys = sorted({problem_key(e.column, e.code) for e in errors})
    return "|" + "|".join(keys) + "|" if keys else ""


def problems_of(errors: list[RowError], headers: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "column": e.column,
            "index": headers.index(e.column) if e.column in headers else None,
            "code": e.code,
            "message": e.message,
        }
        for e in errors
    ]


def errors_of(result: CleanRow | list[RowError]) -> list[RowError]:
    return [] if isinstance(result, CleanRow) else result


def record_refused(
    conn: Connection,
    job_id: uuid.UUID,
    batch: Any,
    validator: RowValidator,
    headers: list[str],
) -> Counter[str]:
    """Record a dry run batch's refused rows and the rows corrections touched; the problems
    found, counted by key (a touched row counts with the problems of its original cells)."""
    refused: dict[int, tuple[list[str], list[RowError]]] = {}
    for error, values in batch.errors:
        refused.setdefault(error.row, (values, []))[1].append(error)
    touched = {line: (values, error) for line, values, error in batch.touched or []}
    found: Counter[str] = Counter()
    records = []
    for line in sorted(set(refused) | set(touched)):
        current = refused.get(line, ([], []))[1]
        read_error = next((e.message for e in current if e.code == "unreadable"), None)
        if line in touched:
            original, read_error = touched[line]
            first = errors_of(validator.validate(line, original))
            if read_error:
                first.append(RowError(line, None, "", read_error, "unreadable"))
        else:
            original, first = refused[line][0], current
        found.update({problem_key(e.column, e.code) for e in first})
        records.append(
            {
                "import_job_id": job_id,
                "row_number": line,
                "cells": list(original),
                "problems": problems_of(current, headers),
                "problem_keys": keys_text(current),
                "found_keys": keys_text([*first, *current]),
                "read_error": read_error,
            }
        )
    insert_rows(conn, RefusedRow.__table__, records)
    return found


def forget_refused(job_id: uuid.UUID) -> None:
    """Drop a draft's recorded rows (a new dry run records them again)."""
    db.session.execute(delete(RefusedRow).where(RefusedRow.import_job_id == job_id))
