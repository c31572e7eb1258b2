"""Services are given their tenant: no query of a tenant's table may go without it.

The web layer passes the signed-in user's (or the API token's) tenant; services and jobs never
read it from the request (`flask.g`, `current_user`). An export's every statement that reads
contacts, tags, segments or custom fields filters them by the tenant it was given.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from app.exports.query import ExportFilters, FieldCondition
from app.exports.service import count_matching
from app.extensions import db
from app.models import Tenant
from tests.conftest import make_tenant
from tests.exports.conftest import add_custom_fields, export_now, person, segment

APP = Path(__file__).resolve().parents[2] / "app"
SERVICES = ("imports", "exports", "jobs")
TENANT_TABLES = ("contacts", "tags", "segments", "custom_fields")
READS = re.compile(r"\b(?:FROM|JOIN)\s+(" + "|".join(TENANT_TABLES) + r")\b", re.IGNORECASE)


def test_services_never_read_the_current_tenant() -> None:
    """`app.tenancy.scoped`/`current_tenant_id`, `flask.g` and `current_user` belong to the web
    layer; a service takes the tenant from its caller (`app.tenancy.owned`)."""
    found = []
    for package in SERVICES:
        for path in sorted((APP / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom):
                    names = {a.name for a in node.names}
                    if node.module == "flask" and names & {"g", "session", "request"}:
                        found.append((path.relative_to(APP).as_posix(), node.module, names))
                    if node.module == "flask_login" and "current_user" in names:
                        found.append((path.relative_to(APP).as_posix(), node.module, names))
                    if node.module == "app.tenancy" and names & {"scoped", "current_tenant_id"}:
                        found.append((path.relative_to(APP).as_posix(), node.module, names))
    assert found == []


@pytest.fixture
def statements(app: Flask) -> list[str]:
    """Every statement sent to the database while the test runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine, "before_cursor_execute", record)


@pytest.mark.both_databases
def test_an_exports_statements_all_filter_by_its_tenant(
    app: Flask, tenant: Tenant, statements: list[str]
) -> None:
    add_custom_fields(tenant)
    other = make_tenant("Other")
    for owner in (tenant, other):
        person(owner, "ada@example.com", first_name="Ada", tags=("vip",), segments=("Warm",))
    filters = ExportFilters(
        tags=["vip"], conditions=[FieldCondition(field="first_name", op="equals", value="Ada")]
    )
    statements.clear()
    for export_type, spec in (
        ("full", ExportFilters()),
        ("filtered", filters),
        ("segment", ExportFilters(segment_id=str(segment(tenant, "Warm").id))),
    ):
        job = export_now(
            tenant, ["email", "first_name", "tags", "segments"], "csv", export_type, spec
        )
        assert (job.status, job.total_contacts) == ("completed", 1), job.failure_message
        assert count_matching(tenant.id, export_type, spec) == 1
    reads = [s for s in statements if READS.search(s)]
    assert reads, "the exports read no contacts?"
    unscoped = [s for s in reads if "tenant_id" not in s]
    assert unscoped == []
