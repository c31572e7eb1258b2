"""remember the export form's "For Excel" choice per user

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 18:30:00

The export form starts CSV exports with the byte order mark Excel needs, and remembers a
user's last choice on the user's row, so it follows them to every browser and survives
sign-out. NULL (every existing user) means they never chose: the box starts ticked.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('export_csv_for_excel', sa.Boolean(), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('export_csv_for_excel')
