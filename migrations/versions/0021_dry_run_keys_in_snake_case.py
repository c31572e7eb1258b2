"""a dry run's stored result is keyed in snake_case

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 13:00:00

`import_jobs.dry_run` held the dry run's result in the API's camelCase (`wouldCreate`,
`processedRows`, a repeat's `firstRow`, the segment's `wouldJoin`). The service now returns a
typed `DryRunResult` whose stored form is snake_case, and the API names the keys on the wire
itself. The upgrade renames the keys of every stored dry run (progress, failure, counts and a
follow-up draft's refused rows alike); the downgrade names them back. Keys that are data, such as
the field names of `fieldChanges` and the problems of `problems`, are left as they are.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

TOP = {
    "processedRows": "processed_rows",
    "wouldCreate": "would_create",
    "wouldUpdate": "would_update",
    "wouldLeaveUnchanged": "would_leave_unchanged",
    "wouldSkip": "would_skip",
    "wouldRepeat": "would_repeat",
    "errorRows": "error_rows",
    "fieldChanges": "field_changes",
    "unsubscribedMatches": "unsubscribed_matches",
    "statusChanges": "status_changes",
    "domainTypos": "domain_typos",
    "correctedRows": "corrected_rows",
    "skippedRows": "skipped_rows",
}
REPEAT = {"firstRow": "first_row"}
SEGMENT = {"wouldJoin": "would_join", "alreadyIn": "already_in"}

import_jobs = sa.table(
    "import_jobs",
    sa.column("id", sa.Uuid()),
    sa.column("dry_run", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
)


def _renamed(data: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {names.get(key, key): value for key, value in data.items()}


def _converted(stored: dict[str, Any], back: bool) -> dict[str, Any]:
    """The stored dry run with its keys renamed (camelCase to snake_case, or back)."""

    def names(table: dict[str, str]) -> dict[str, str]:
        return {new: old for old, new in table.items()} if back else table

    data = _renamed(stored, names(TOP))
    if isinstance(data.get("repeats"), list):
        data["repeats"] = [
            _renamed(r, names(REPEAT)) if isinstance(r, dict) else r for r in data["repeats"]
        ]
    if isinstance(data.get("segment"), dict):
        data["segment"] = _renamed(data["segment"], names(SEGMENT))
    return data


def _convert_all(back: bool) -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(import_jobs.c.id, import_jobs.c.dry_run).where(import_jobs.c.dry_run.is_not(None))
    ).all()
    for job_id, stored in rows:
        if not isinstance(stored, dict):
            continue
        converted = _converted(stored, back)
        if converted != stored:
            bind.execute(
                import_jobs.update().where(import_jobs.c.id == job_id).values(dry_run=converted)
            )


def upgrade():
    _convert_all(back=False)


def downgrade():
    _convert_all(back=True)
