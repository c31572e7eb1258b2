"""contacts record the import that created them; link tables without a contact foreign key

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 20:20:00

Issue 12 (the engine's write path). An import used to journal a row per created contact (its
id, row and values as JSON) only so that its rollback could find and delete it; the contact now
carries `created_by_import_id` and `created_from_row`, and the journal keeps only the contacts
an import changed. Existing "created" events move onto their contacts.

The link tables lose their foreign key to contacts: checking it cost a trigger and a row lock on
the contact for every link written. The one path that deletes contacts, a rollback, deletes
their links itself; tag and segment keys keep theirs (labels are few and rarely deleted).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_CREATED = (
    "FROM import_events e WHERE e.contact_id = contacts.id "
    "AND e.event_type = 'created' AND e.reverted_at IS NULL"
)


def upgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by_import_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('created_from_row', sa.Integer(), nullable=True))
        batch_op.create_index(
            'ix_contacts_created_by_import', ['created_by_import_id', 'id'], unique=False
        )
    op.execute(
        "UPDATE contacts SET "  # nosec B608 # a constant
        f"created_by_import_id = (SELECT e.import_job_id {_CREATED}), "
        f"created_from_row = (SELECT e.row_number {_CREATED}) "
        f"WHERE EXISTS (SELECT 1 {_CREATED})"
    )
    op.execute(  # the moved ones; one whose contact is gone stays, as history
        "DELETE FROM import_events WHERE event_type = 'created' AND reverted_at IS NULL "
        "AND contact_id IN (SELECT c.id FROM contacts c "
        "WHERE c.created_by_import_id = import_events.import_job_id)"
    )
    with op.batch_alter_table('contact_tags', schema=None) as batch_op:
        batch_op.drop_constraint('fk_contact_tags_contact_id_contacts', type_='foreignkey')
    with op.batch_alter_table('segment_contacts', schema=None) as batch_op:
        batch_op.drop_constraint('fk_segment_contacts_contact_id_contacts', type_='foreignkey')


def downgrade():
    # links whose contact is gone would refuse the foreign key: they are orphans, drop them
    op.execute("DELETE FROM contact_tags WHERE contact_id NOT IN (SELECT id FROM contacts)")
    op.execute("DELETE FROM segment_contacts WHERE contact_id NOT IN (SELECT id FROM contacts)")
    with op.batch_alter_table('segment_contacts', schema=None) as batch_op:
        batch_op.create_foreign_key(
            'fk_segment_contacts_contact_id_contacts', 'contacts', ['contact_id'], ['id'],
            ondelete='CASCADE',
        )
    with op.batch_alter_table('contact_tags', schema=None) as batch_op:
        batch_op.create_foreign_key(
            'fk_contact_tags_contact_id_contacts', 'contacts', ['contact_id'], ['id'],
            ondelete='CASCADE',
        )
    # the journal gets its "created" rows back (values {}: a rollback then deletes the contact)
    new_id = (
        "gen_random_uuid()"
        if op.get_bind().dialect.name == "postgresql"
        else "lower(hex(randomblob(16)))"
    )
    op.execute(
        "INSERT INTO import_events "  # nosec B608 # a constant
        "(id, import_job_id, contact_id, event_type, previous_data, new_data, created_at, "
        "row_number) "
        f"SELECT {new_id}, created_by_import_id, id, 'created', NULL, '{{}}', created_at, "
        "created_from_row FROM contacts WHERE created_by_import_id IN (SELECT id FROM import_jobs)"
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_contacts_created_by_import')
        batch_op.drop_column('created_from_row')
        batch_op.drop_column('created_by_import_id')
