"""corrections made in the browser before an import starts, and the rows a dry run would refuse

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 04:40:00

`import_refused_rows` holds, per draft, the rows its last dry run would refuse, with their
original cells and problems: the review table pages through them. `import_corrections` holds
the cells a person corrected (and the rows they chose to skip); the import, its dry run and its
error report apply them to the rows they read, so the uploaded file stays as it came.
`import_jobs` counts the rows corrected and skipped that way.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    op.create_table(
        "import_refused_rows",
        sa.Column("import_job_id", sa.Uuid(), nullable=False),
        sa.Column("row_number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("cells", _JSON, nullable=False),
        sa.Column("problems", _JSON, nullable=False),
        sa.Column("problem_keys", sa.Text(), server_default="", nullable=False),
        sa.Column("found_keys", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["import_job_id"],
            ["import_jobs.id"],
            name=op.f("fk_import_refused_rows_import_job_id_import_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("import_job_id", "row_number", name=op.f("pk_import_refused_rows")),
    )
    op.create_table(
        "import_corrections",
        sa.Column("import_job_id", sa.Uuid(), nullable=False),
        sa.Column("row_number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("column_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_job_id"],
            ["import_jobs.id"],
            name=op.f("fk_import_corrections_import_job_id_import_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "import_job_id", "row_number", "column_index", name=op.f("pk_import_corrections")
        ),
    )
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("corrected_rows", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "review_skipped_rows", sa.Integer(), server_default=sa.text("0"), nullable=False
            )
        )


def downgrade():
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.drop_column("review_skipped_rows")
        batch_op.drop_column("corrected_rows")
    op.drop_table("import_corrections")
    op.drop_table("import_refused_rows")
