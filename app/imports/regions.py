"""The default phone country a tenant usually imports with, to offer it first."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from app.extensions import db
from app.models import ImportJob
from app.models.jobs import ImportStatus


def usual_region(tenant_id: uuid.UUID) -> str | None:
    """The default phone country most of the tenant's earlier imports used (latest on a tie).

    Read from the imports' options, not from the contacts' numbers: it is one small grouped
    query, and it is what the tenant's users chose for their files, which is what they are
    about to choose again.
    """
    region = ImportJob.import_options["default_region"].as_string()
    return db.session.scalar(
        select(region)
        .where(
            ImportJob.tenant_id == tenant_id,
            ImportJob.status != ImportStatus.DRAFT,
            region.is_not(None),
            region != "",
        )
        .group_by(region)
        .order_by(func.count().desc(), func.max(ImportJob.created_at).desc())
        .limit(1)
    )
