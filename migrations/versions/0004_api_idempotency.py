"""api idempotency keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 23:55:00

A retried API request that carries the same Idempotency-Key gets the job the first one started:
the key is stored on the job and unique per tenant (NULLs, from the web app and the CLI, never
collide, on PostgreSQL and SQLite alike).
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

TABLES = ('import_jobs', 'export_jobs')


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('idempotency_key', sa.String(length=255), nullable=True))
            batch_op.create_unique_constraint(
                f'uq_{table}_tenant_id_idempotency_key', ['tenant_id', 'idempotency_key']
            )


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f'uq_{table}_tenant_id_idempotency_key', type_='unique')
            batch_op.drop_column('idempotency_key')
