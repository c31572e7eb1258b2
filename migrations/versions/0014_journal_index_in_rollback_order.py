"""the journal's (import, row) index also holds the id: the rollback's order, read without a sort

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 23:55:00

A rollback reads the journal newest first, by (row, id), a batch at a time after a cursor. The
index held (import, row) only, so PostgreSQL fetched every journal row below the cursor and
sorted them to return the first 5,000: at the start of a 1M-row rollback, half a million rows
(a 22 MB sort on disk) per batch, quadratic in the journal's length. With the id in the index,
an index scan backward returns the batch in order and stops.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("import_events", schema=None) as batch_op:
        batch_op.drop_index("ix_import_events_job_row")
        batch_op.create_index(
            "ix_import_events_job_row_id", ["import_job_id", "row_number", "id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("import_events", schema=None) as batch_op:
        batch_op.drop_index("ix_import_events_job_row_id")
        batch_op.create_index(
            "ix_import_events_job_row", ["import_job_id", "row_number"], unique=False
        )
