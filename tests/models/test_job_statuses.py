"""Job states are named (`app.models.jobs`), stored as the same text as before."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from app.extensions import db
from app.models import ExportJob, ExportStatus, ImportJob, ImportStatus, RunStatus, Tenant
from app.models.jobs import JobColumns

APP = Path(__file__).resolve().parents[2] / "app"
STATUS_NAMES = {"status", "rollback_status", "dry_run_status"}
STATES = {s.value for enum in (ImportStatus, RunStatus, ExportStatus) for s in enum}


def _literal_states(node: ast.AST) -> list[str]:
    """String constants naming a state in `node` (a tuple of them too)."""
    if isinstance(node, ast.Constant) and node.value in STATES:
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [v for e in node.elts for v in _literal_states(e)]
    return []


def _names_a_status(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr in STATUS_NAMES
    return isinstance(node, ast.Name) and node.id in STATUS_NAMES


def states_as_text(source: str) -> list[int]:
    """The lines where Python source compares or sets a job's state as a string."""
    found = []
    for node in ast.walk(ast.parse(source)):
        pairs: list[tuple[ast.AST, ast.AST]] = []
        if isinstance(node, ast.Compare):
            pairs = [(node.left, c) for c in node.comparators]
        elif isinstance(node, ast.Assign):
            pairs = [(t, node.value) for t in node.targets]
        elif isinstance(node, ast.keyword) and node.arg in STATUS_NAMES:
            pairs = [(ast.Name(id=node.arg), node.value)]
        for left, right in pairs:
            if _names_a_status(left) and _literal_states(right):
                found.append(getattr(node, "lineno", 0))
    return found


def test_services_compare_and_set_job_states_by_name() -> None:
    """In the services and jobs, a state is `ImportStatus.COMPLETED`, never "completed": a
    misspelt name fails when the module loads, a misspelt string just never matches."""
    found = []
    for package in ("imports", "exports", "jobs", "models"):
        for path in sorted((APP / package).rglob("*.py")):
            found += [f"{path.relative_to(APP)}:{n}" for n in states_as_text(path.read_text())]
    assert found == []


@pytest.mark.both_databases
def test_a_named_state_is_stored_as_its_text(app: Flask, tenant: Tenant) -> None:
    job = ImportJob(tenant_id=tenant.id, status=ImportStatus.ROLLED_BACK)
    export = ExportJob(tenant_id=tenant.id, status=ExportStatus.EXPIRED)
    db.session.add_all([job, export])
    db.session.commit()
    stored = db.session.execute(
        text("SELECT status FROM import_jobs WHERE status = 'rolled_back'")
    ).scalar()
    assert stored == "rolled_back" == ImportStatus.ROLLED_BACK
    assert db.session.execute(text("SELECT status FROM export_jobs")).scalar() == "expired"
    db.session.expire_all()
    assert db.session.get(ImportJob, job.id).status == ImportStatus.ROLLED_BACK


def test_imports_and_exports_share_the_job_columns() -> None:
    shared = {c.name for c in ImportJob.__table__.columns} & {
        c.name for c in ExportJob.__table__.columns
    }
    assert set(JobColumns.__annotations__) <= shared
