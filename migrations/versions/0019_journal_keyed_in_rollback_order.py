"""the journal's key is its rollback order (import, row, id): the key on the id alone goes

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 10:45:00

Each journal row was written into three indexes: its key (the id), the contact's (contact,
import) and the rollback's (import, row, id). Nothing looks a journal row up by its id alone:
the rollback's order becomes the key and the id's index goes, one index entry fewer per row an
import changes (0.4-0.8 µs of PostgreSQL per imported row, measured interleaved at 200,000
rows, `docs/benchmarks.md`). A key column cannot be empty: journal rows from before row numbers
were kept (none are written without one since migration 0002) take row 0, the first undone
last, as their empty row number sorted in a rollback's order on SQLite.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("UPDATE import_events SET row_number = 0 WHERE row_number IS NULL")
    with op.batch_alter_table("import_events", schema=None) as batch_op:
        batch_op.drop_index("ix_import_events_job_row_id")
        batch_op.drop_constraint("pk_import_events", type_="primary")
        batch_op.alter_column("row_number", existing_type=sa.Integer(), nullable=False)
        batch_op.create_primary_key("pk_import_events", ["import_job_id", "row_number", "id"])


def downgrade():
    with op.batch_alter_table("import_events", schema=None) as batch_op:
        batch_op.drop_constraint("pk_import_events", type_="primary")
        batch_op.alter_column("row_number", existing_type=sa.Integer(), nullable=True)
        batch_op.create_primary_key("pk_import_events", ["id"])
        batch_op.create_index(
            "ix_import_events_job_row_id", ["import_job_id", "row_number", "id"], unique=False
        )
