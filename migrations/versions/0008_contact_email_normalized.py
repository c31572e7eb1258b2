"""contacts show the email the import preview showed: the normalized address

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 10:00:00

An import now stores a contact's email in its normalized form (lower case), the value the
mapping preview shows and contacts are unique by. Contacts imported before kept the spelling of
the file that created them (`Ann@Example.COM`); they get the normalized one, so the contacts
page, the API and exports follow the same rule. Nothing else reads `email` for identity, and a
rollback never restores or compares it. The old spellings are not kept: downgrading leaves the
addresses in lower case.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("UPDATE contacts SET email = email_normalized WHERE email <> email_normalized")


def downgrade():
    pass  # the spellings the files had are gone; lower case is a valid address for every contact
