"""notifications store what they are about (kind and id), not a link

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 11:15:00

A notification kept the URL its service built (`/imports/<id>`, `/history#export-<id>`, or
`/exports/<id>` when there was no history page). It now keeps the kind and id of the import or
export it is about, and the web layer builds the link when it is opened. Existing links of
those three shapes give their kind and id; any other link (none are written by the app) is
dropped, and such a notification opens the notifications list. The downgrade writes the links
back in the shapes the app wrote last (`/imports/<id>`, `/history#export-<id>`).
"""

import re
import uuid

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_UUID = r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
LINKS = (
    ("import", re.compile(rf"/imports/{_UUID}")),
    ("export", re.compile(rf"/history#export-{_UUID}")),
    ("export", re.compile(rf"/exports/{_UUID}")),
)
WRITTEN = {"import": "/imports/{}", "export": "/history#export-{}"}

notifications = sa.table(
    "notifications",
    sa.column("id", sa.Uuid()),
    sa.column("link", sa.Text()),
    sa.column("object_kind", sa.String(20)),
    sa.column("object_id", sa.Uuid()),
)


def _object_of(link: str) -> tuple[str, uuid.UUID] | None:
    """The kind and id a link written by the app points at, or None."""
    for kind, pattern in LINKS:
        if found := pattern.fullmatch(link):
            return kind, uuid.UUID(found[1])
    return None


def upgrade():
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("object_kind", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("object_id", sa.Uuid(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(notifications.c.id, notifications.c.link).where(
            notifications.c.link.is_not(None)
        )
    ).all()
    for note_id, link in rows:
        if (found := _object_of(link)) is not None:
            bind.execute(
                notifications.update()
                .where(notifications.c.id == note_id)
                .values(object_kind=found[0], object_id=found[1])
            )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("link")


def downgrade():
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link", sa.Text(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            notifications.c.id, notifications.c.object_kind, notifications.c.object_id
        ).where(notifications.c.object_id.is_not(None))
    ).all()
    for note_id, kind, object_id in rows:
        if kind in WRITTEN:
            bind.execute(
                notifications.update()
                .where(notifications.c.id == note_id)
                .values(link=WRITTEN[kind].format(object_id))
            )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("object_id")
        batch_op.drop_column("object_kind")
