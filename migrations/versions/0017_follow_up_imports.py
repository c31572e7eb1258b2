"""an import that fixes another import's refused rows names it

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 04:45:00

A follow-up import reads the same uploaded file with the same mapping and options, and imports
only the rows a person corrected in the browser after the first import refused them. It has
its own journal and rollback; `follow_up_of` links it to the import it follows up.

`import_refused_rows.read_error`: why a row could not be read at all (e.g. more cells than the
header has columns); it stays refused for that until a person corrects its cells.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("import_refused_rows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("read_error", sa.Text(), nullable=True))
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("follow_up_of", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_import_jobs_follow_up_of_import_jobs"),
            "import_jobs",
            ["follow_up_of"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index("ix_import_jobs_follow_up_of", ["follow_up_of"], unique=False)


def downgrade():
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_import_jobs_follow_up_of")
        batch_op.drop_constraint(
            batch_op.f("fk_import_jobs_follow_up_of_import_jobs"), type_="foreignkey"
        )
        batch_op.drop_column("follow_up_of")
    with op.batch_alter_table("import_refused_rows", schema=None) as batch_op:
        batch_op.drop_column("read_error")
