"""count the rows that repeat an email of an earlier row of the file

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 18:25:00

A row whose email an earlier row had is counted on its own line ("1 row repeats the email of
row 4: the later row wins") instead of as an update. Imports finished before have 0.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('repeated_count', sa.Integer(), server_default=sa.text('0'), nullable=False)
        )


def downgrade():
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.drop_column('repeated_count')
