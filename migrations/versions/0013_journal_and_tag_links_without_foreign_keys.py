"""the journal and the tag links lose their foreign keys (to import_jobs, to tags)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 23:20:00

A foreign key costs a trigger and a row lock per inserted row: a 100k-row import writes about
50,000 journal rows and 80,000 tag links, and the two checks cost ~5 µs of PostgreSQL's CPU
per imported row (issue 12, `docs/benchmarks.md`). Neither guards anything the application can
do: journal rows are written only by their own import, and import jobs are deleted only as
drafts, which have no journal; tags are deleted only by a rollback, and only when no link uses
them, under a row lock the importing batches share (`app/imports/batch_write.ensure_tags`).
`tests/imports/test_links.py` proves no link or journal row is left without its tag or job.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("contact_tags", schema=None) as batch_op:
        batch_op.drop_constraint("fk_contact_tags_tag_id_tags", type_="foreignkey")
    with op.batch_alter_table("import_events", schema=None) as batch_op:
        batch_op.drop_constraint("fk_import_events_import_job_id_import_jobs", type_="foreignkey")


def downgrade():
    # rows whose tag or import is gone would refuse the key: they are orphans, drop them
    op.execute("DELETE FROM contact_tags WHERE tag_id NOT IN (SELECT id FROM tags)")
    op.execute("DELETE FROM import_events WHERE import_job_id NOT IN (SELECT id FROM import_jobs)")
    with op.batch_alter_table("import_events", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_import_events_import_job_id_import_jobs", "import_jobs", ["import_job_id"], ["id"]
        )
    with op.batch_alter_table("contact_tags", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_contact_tags_tag_id_tags", "tags", ["tag_id"], ["id"], ondelete="CASCADE"
        )
