"""An export re-imported into an empty tenant with the import engine gives the same contacts."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook

from app.imports.importing import run_import
from app.imports.mapping import suggest_mapping, target_to_spec
from app.models import Tenant
from tests.conftest import make_tenant
from tests.exports.conftest import add_custom_fields, export_now, person, stored_bytes
from tests.imports.conftest import new_job, snapshot

CUSTOM = {
    "zip": ("ZIP", "text"),
    "score": ("Score", "number"),
    "signup": ("Signup date", "date"),
    "vip": ("VIP", "boolean"),
}
FIELDS = [
    "email",
    "first_name",
    "last_name",
    "company",
    "phone",
    "custom:zip",
    "custom:score",
    "custom:signup",
    "custom:vip",
    "tags",
]


@pytest.fixture
def source(app: Flask) -> Tenant:
    tenant = make_tenant("Source")
    add_custom_fields(tenant, CUSTOM)
    person(
        tenant,
        "ada.lovelace@example.com",  # stored as an import stores it
        first_name="Ada",
        last_name='O"Neil, Jr.',
        company="Acme; Corp",
        phone="+442079460958",
        tags=("vip", "Kunde-Zürich"),
        custom={"zip": "01234", "score": 12, "signup": "2024-02-29", "vip": True},
    )
    person(
        tenant,
        "zoë@example.com",
        first_name="Zoë",
        last_name="李",
        company="Straße\nHaus",
        phone="+14155552671",
        tags=("newsletter",),
        custom={"zip": "75001", "score": 2.5, "signup": "2025-12-31", "vip": False},
    )
    person(tenant, "plain@example.org", custom={})
    person(  # formula-like values: the export writes them with a `'`, the import drops it
        tenant,
        "formula@example.org",
        first_name="-Ann",
        company='=HYPERLINK("x")',
        tags=("+plus",),
        custom={"zip": "@home"},
    )
    return tenant


def headers_of(file_format: str, data: bytes) -> list[str]:
    if file_format == "csv":
        return next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    if file_format == "xlsx":
        sheet = load_workbook(io.BytesIO(data), read_only=True)["Contacts"]
        return [c.value for c in next(sheet.iter_rows())]
    first = json.loads(data)[0] if file_format == "json" else json.loads(data.splitlines()[0])
    flat = [k for k in first if k != "custom_fields"]
    return flat + [f"custom_fields.{k}" for k in first.get("custom_fields", {})]


def mapping_for(headers: list[str]) -> dict[str, str]:
    """What a user maps: the engine's suggestions, plus a type for each new custom field."""
    mapping: dict[str, str] = {}
    custom_by_header = {label: key for key, (label, _) in CUSTOM.items()}
    custom_by_header.update({f"custom_fields.{key}": key for key in CUSTOM})
    for suggestion in suggest_mapping(headers):
        header = suggestion.header
        if header in custom_by_header:
            key = custom_by_header[header]
            mapping[header] = f"{key}:{CUSTOM[key][1]}"
        else:
            assert suggestion.reason == "exact", (header, suggestion)
            mapping[header] = target_to_spec(suggestion.target)
    return mapping


def comparable(contacts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    keep = ("email", "first_name", "last_name", "company", "phone", "custom", "tags")
    return {email: {k: c[k] for k in keep} for email, c in contacts.items()}


@pytest.mark.parametrize("file_format", ["csv", "xlsx", "json", "ndjson"])
def test_export_then_import_gives_back_the_same_contacts(
    app: Flask, source: Tenant, file_format: str
) -> None:
    job = export_now(source, FIELDS, file_format, csv_for_excel=file_format == "csv")
    assert job.status == "completed"
    data = stored_bytes(app, job)

    target = make_tenant("Target")
    headers = headers_of(file_format, data)
    imported = run_import(
        new_job(target, data, file_name=job.file_name, mapping=mapping_for(headers)).id,
        batch_size=2,
    )
    assert imported.status == "completed", imported.failure_message
    assert (imported.created_count, imported.error_count) == (4, 0), imported.errors

    original = comparable(snapshot(source.id))
    assert comparable(snapshot(target.id)) == original
    assert original["ada.lovelace@example.com"]["custom"] == {
        "zip": "01234",
        "score": 12,
        "signup": "2024-02-29",
        "vip": True,
    }
