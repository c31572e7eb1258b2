"""the contacts' (creating import, id) index holds only contacts an import created

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 02:20:00

Only a rollback reads this index, always for one import. Contacts created by a person, the API
or before migration 0011 had an entry too (NULL), and every write that moved such a contact to
a new row version added another: a rollback that restores 500,000 contacts spent 5.5 µs of
PostgreSQL's CPU per row on them (`docs/benchmarks.md`, 2026-12-07). PostgreSQL and SQLite both
use a partial index for `created_by_import_id = <an import>`, which implies it is not NULL.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_CREATED = sa.text("created_by_import_id IS NOT NULL")


def upgrade():
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_created_by_import")
        batch_op.create_index(
            "ix_contacts_created_by_import",
            ["created_by_import_id", "id"],
            unique=False,
            postgresql_where=_CREATED,
            sqlite_where=_CREATED,
        )


def downgrade():
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_created_by_import")
        batch_op.create_index(
            "ix_contacts_created_by_import", ["created_by_import_id", "id"], unique=False
        )
