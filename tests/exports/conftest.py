"""Helpers for export tests: contacts with tags, segments and custom fields; run an export."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask

from app.exports.query import ExportFilters
from app.exports.service import ExportRequest, create_export, run_export
from app.extensions import db
from app.models import Contact, CustomField, ExportJob, Segment, Tag, Tenant

_ORDER = itertools.count()
CUSTOM = {"zip": ("ZIP", "text"), "score": ("Score", "number"), "signup": ("Signup date", "date")}


def add_custom_fields(tenant: Tenant, fields: dict[str, tuple[str, str]] = CUSTOM) -> None:
    """Declare the tenant's custom fields (key -> (label, type))."""
    for key, (label, kind) in fields.items():
        db.session.add(CustomField(tenant_id=tenant.id, key=key, label=label, field_type=kind))
    db.session.commit()


def tag(tenant: Tenant, name: str) -> Tag:
    """The tenant's tag `name`, created when missing."""
    found = db.session.scalar(
        db.select(Tag).where(Tag.tenant_id == tenant.id, Tag.name_normalized == name.lower())
    )
    if found is None:
        found = Tag(tenant_id=tenant.id, name=name, name_normalized=name.lower())
        db.session.add(found)
        db.session.flush()
    return found


def segment(tenant: Tenant, name: str) -> Segment:
    """The tenant's segment `name`, created when missing."""
    found = db.session.scalar(
        db.select(Segment).where(Segment.tenant_id == tenant.id, Segment.name == name)
    )
    if found is None:
        found = Segment(tenant_id=tenant.id, name=name)
        db.session.add(found)
        db.session.flush()
    return found


def person(
    tenant: Tenant,
    email: str,
    *,
    tags: tuple[str, ...] = (),
    segments: tuple[str, ...] = (),
    created: datetime | None = None,
    updated: datetime | None = None,
    **fields: Any,
) -> Contact:
    """A contact of the tenant with tags, segments and any other column."""
    contact = Contact(
        tenant_id=tenant.id,
        email=email,
        email_normalized=email.strip().lower(),
        custom_fields=fields.pop("custom", {}),
        # distinct creation times keep the file's order (oldest first) predictable
        created_at=created or datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=next(_ORDER)),
        **fields,
    )
    contact.tags = [tag(tenant, t) for t in tags]
    contact.segments = [segment(tenant, s) for s in segments]
    db.session.add(contact)
    db.session.commit()
    if updated is not None:  # updated_at is set on every write: put it back afterwards
        contact.updated_at = updated
        db.session.execute(
            db.update(Contact).where(Contact.id == contact.id).values(updated_at=updated)
        )
        db.session.commit()
    return contact


def export_now(
    tenant: Tenant,
    fields: list[str] | None = None,
    file_format: str = "csv",
    export_type: str = "full",
    filters: ExportFilters | None = None,
    **options: Any,
) -> ExportJob:
    """Create an export and run it in this process; returns the finished job."""
    request = ExportRequest(
        export_type=export_type,
        filters=filters or ExportFilters(),
        fields=fields or ["email", "first_name", "last_name"],
        file_format=file_format,
        csv_for_excel=options.pop("csv_for_excel", False),
    )
    batch_size = options.pop("batch_size", 2)
    job = create_export(tenant.id, request, **options)
    return run_export(job.id, batch_size=batch_size)


def stored_bytes(app: Flask, job: ExportJob) -> bytes:
    """The bytes of the export's stored file."""
    assert job.file_url, f"export {job.id} has no file ({job.status}: {job.failure_message})"
    with app.extensions["storage"].open(job.file_url) as f:
        return f.read()
