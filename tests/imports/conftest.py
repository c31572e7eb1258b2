"""Helpers for import tests: store a file, run an import, snapshot a tenant's contacts."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.imports.importing import run_import
from app.imports.options import ImportOptions
from app.imports.service import create_import_job, store_upload
from app.models import Contact, ImportJob, Tenant

ImportRunner = Callable[..., ImportJob]


def csv_bytes(rows: list[list[str]]) -> bytes:
    """A CSV file from rows of cells."""
    import csv

    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def new_job(
    tenant: Tenant, content: bytes, file_name: str = "contacts.csv", **options: Any
) -> ImportJob:
    """Store a file and commit a pending import job for it."""
    key, size = store_upload(tenant.id, io.BytesIO(content), file_name)
    mapping = options.pop("mapping", None)
    opts = ImportOptions(file_name=file_name, file_key=key, field_mapping=mapping or {}, **options)
    return create_import_job(tenant.id, opts, file_size=size)


@pytest.fixture
def run(app: Flask) -> ImportRunner:
    """Import a file synchronously and return the finished job."""

    def _run(tenant: Tenant, content: bytes, batch_size: int = 3, **options: Any) -> ImportJob:
        job = new_job(tenant, content, **options)
        return run_import(job.id, batch_size=batch_size)

    return _run


MAPPING = {
    "Email": "email",
    "First": "first_name",
    "Last": "last_name",
    "Company": "company",
    "Phone": "phone",
    "Tags": "tags",
}


def snapshot(tenant_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    """Every contact of a tenant with its fields, tags and segments, by normalized email."""
    db.session.expire_all()
    contacts = db.session.scalars(select(Contact).where(Contact.tenant_id == tenant_id)).all()
    return {
        c.email_normalized: {
            "email": c.email,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "company": c.company,
            "phone": c.phone,
            "custom": dict(c.custom_fields or {}),
            "status": c.subscription_status,
            "tags": sorted(t.name for t in c.tags),
            "segments": sorted(s.name for s in c.segments),
        }
        for c in contacts
    }


def add_contact(tenant: Tenant, email: str, **fields: Any) -> Contact:
    """An existing contact of the tenant."""
    contact = Contact(tenant_id=tenant.id, email=email, email_normalized=email.lower(), **fields)
    db.session.add(contact)
    db.session.commit()
    return contact
