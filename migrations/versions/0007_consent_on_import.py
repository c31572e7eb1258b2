"""consent on import: the dates a contact consented and unsubscribed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 18:10:00

A subscription status can now come from the file ("non_subscribed" joins subscribed,
unsubscribed and bounced: the status is a plain string, so no data changes), and the dates a
contact gave permission or unsubscribed are kept when a column gives them.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consented_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('unsubscribed_on', sa.Date(), nullable=True))


def downgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('unsubscribed_on')
        batch_op.drop_column('consented_on')
