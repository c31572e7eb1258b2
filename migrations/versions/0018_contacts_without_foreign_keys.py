"""contacts lose their foreign keys to tenants and workspaces

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 10:20:00

A foreign key costs a trigger, a query and a row lock on the referenced row for every row
written. An import inserts half a million contacts into one tenant: measured interleaved in one run (200,000 rows, half new, `docs/benchmarks.md`),
inserting the new contacts cost PostgreSQL 6.6-6.9 µs per imported row with the two keys and
4.0-4.5 without them, the same lock taken on one tenant's row half a million times. Neither key
guards anything the application can do: tenants and workspaces are never deleted, and
contacts are written only by an import, which takes its tenant and workspace from its job,
whose own keys check them once. `tests/imports/test_links.py` fails if a path that deletes
tenants or workspaces appears.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_constraint("fk_contacts_tenant_id_tenants", type_="foreignkey")
        batch_op.drop_constraint("fk_contacts_workspace_id_workspaces", type_="foreignkey")


def downgrade():
    # a contact whose workspace is gone would refuse the key: it keeps its tenant
    op.execute(
        "UPDATE contacts SET workspace_id = NULL WHERE workspace_id IS NOT NULL "
        "AND workspace_id NOT IN (SELECT id FROM workspaces)"
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_contacts_workspace_id_workspaces", "workspaces", ["workspace_id"], ["id"]
        )
        batch_op.create_foreign_key("fk_contacts_tenant_id_tenants", "tenants", ["tenant_id"], ["id"])
