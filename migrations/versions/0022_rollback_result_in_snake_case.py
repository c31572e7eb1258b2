"""a rollback's stored result is keyed in snake_case

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 14:00:00

`import_jobs.rollback_result` held a rollback's counts, the contacts it kept and, while it ran,
each slice's position in camelCase (`keptContacts` with a contact's `contactId`, a position's
`journalBefore` and `createdAfter`, at the top level too in what a rollback stored before the
slices). The service now reads and writes a typed `RollbackTally` whose stored form is
snake_case, and the CLI and the RQ task name the keys themselves. The upgrade renames the keys of
every stored result (running, completed, failed); the downgrade names them back. The slices'
keys ("0/2") and the single-word keys (`deleted`, `error`...) stay as they are.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

RENAMED = {
    "keptContacts": "kept_contacts",
    "contactId": "contact_id",
    "journalBefore": "journal_before",
    "createdAfter": "created_after",
}

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
import_jobs = sa.table(
    "import_jobs", sa.column("id", sa.Uuid()), sa.column("rollback_result", JSON)
)


def _converted(value: Any, names: dict[str, str]) -> Any:
    """A stored result with its keys renamed at every level: its own, each kept contact's and
    each slice's position. The others (a slice's "0/2", `deleted`) are not in `names`."""
    if isinstance(value, dict):
        return {names.get(key, key): _converted(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [_converted(item, names) for item in value]
    return value


def _rename_keys(names: dict[str, str]) -> None:
    bind = op.get_bind()
    column = import_jobs.c.rollback_result
    stored_results = bind.execute(sa.select(import_jobs.c.id, column).where(column.is_not(None)))
    for job_id, stored in stored_results.all():
        converted = _converted(stored, names)
        if converted != stored:
            update = import_jobs.update().where(import_jobs.c.id == job_id)
            bind.execute(update.values(rollback_result=converted))


def upgrade():
    _rename_keys(RENAMED)


def downgrade():
    _rename_keys({new: old for old, new in RENAMED.items()})
