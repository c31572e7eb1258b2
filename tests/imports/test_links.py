"""Tag and segment links have no foreign key to contacts (migration 0011): no orphan may remain.

The link tables lost their `contact_id` foreign key because checking it cost a trigger and a row
lock per link written. What the key guaranteed is proved here instead: the one code path that
deletes contacts deletes their links first, and a rollback leaves no link behind on either
database.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.imports.rollback_job import run_rollback, start_rollback
from app.models import Contact, Tenant, contact_tags, segment_contacts
from tests.imports.conftest import ImportRunner, add_contact, csv_bytes, snapshot

pytestmark = pytest.mark.both_databases

APP = Path(__file__).resolve().parents[2] / "app"


def orphans() -> dict[str, int]:
    """Links whose contact does not exist, per link table."""
    return {
        table.name: db.session.scalar(
            select(func.count())
            .select_from(table)
            .where(table.c.contact_id.not_in(select(Contact.id)))
        )
        for table in (contact_tags, segment_contacts)
    }


def test_rollbacks_leave_no_link_without_its_contact(run: ImportRunner, tenant: Tenant) -> None:
    add_contact(tenant, "old@example.com", first_name="Old")
    rows = [["Email", "First", "Tags"]] + [
        [f"p{i}@example.com", f"P{i}", "vip; spring"] for i in range(7)
    ]
    rows.append(["old@example.com", "New", "vip"])
    first = run(
        tenant,
        csv_bytes(rows),
        mapping={"Email": "email", "First": "first_name", "Tags": "tags"},
        tags=["imported"],
        segment_name="Spring",
    )
    second = run(  # links the first import's contacts to more tags and a second segment
        tenant,
        csv_bytes([["Email", "Tags"], ["p1@example.com", "later"], ["p2@example.com", "later"]]),
        mapping={"Email": "email", "Tags": "tags"},
        segment_name="Later",
    )
    links = db.session.scalar(select(func.count()).select_from(contact_tags))
    assert links == 7 * 3 + 2 + 2  # 3 per new contact, 2 on old, 1 more on p1 and p2

    for job in (first, second):  # the first one's rollback deletes contacts the second linked
        start_rollback(job)
        assert run_rollback(job.id).status == "rolled_back"
        assert orphans() == {"contact_tags": 0, "segment_contacts": 0}

    assert snapshot(tenant.id)["old@example.com"]["tags"] == []
    assert db.session.scalar(select(func.count()).select_from(contact_tags)) == 0
    assert db.session.scalar(select(func.count()).select_from(segment_contacts)) == 0


def test_a_contact_created_then_updated_by_one_import_ends_deleted(
    run: ImportRunner, tenant: Tenant
) -> None:
    content = csv_bytes(
        [
            ["Email", "First", "Tags"],
            ["a@example.com", "First", "one"],
            ["b@example.com", "B", ""],
            ["c@example.com", "C", ""],
            ["a@example.com", "Second", "two"],  # a later batch (batch_size=3) updates a@
        ]
    )
    job = run(tenant, content, mapping={"Email": "email", "First": "first_name", "Tags": "tags"})
    assert (job.created_count, job.repeated_count) == (3, 1)
    assert snapshot(tenant.id)["a@example.com"]["first_name"] == "Second"

    start_rollback(job)
    job = run_rollback(job.id)

    assert job.rollback_result["deleted"] == 3 and job.rollback_result["kept"] == 0
    assert snapshot(tenant.id) == {}
    assert orphans() == {"contact_tags": 0, "segment_contacts": 0}


def _deletes_contacts(node: ast.AST) -> bool:
    """A call that deletes rows of the contacts table: delete(Contact...) or session.delete."""
    if not isinstance(node, ast.Call):
        return False
    func_ = node.func
    name = func_.id if isinstance(func_, ast.Name) else getattr(func_, "attr", "")
    if name != "delete" or not node.args:
        return False
    return "Contact" in ast.unparse(node.args[0]).split(".")[0]


def test_only_the_rollback_deletes_contacts_and_it_deletes_their_links_with_them() -> None:
    """A new code path that deletes contacts must delete their links too, then join this list."""
    found = []
    for path in sorted(APP.rglob("*.py")):
        source = path.read_text()
        if "DELETE FROM contacts" in source.replace('"', "").replace("'", ""):
            found.append((path.relative_to(APP).as_posix(), "raw SQL"))
        for node in ast.walk(ast.parse(source)):
            if _deletes_contacts(node):
                found.append((path.relative_to(APP).as_posix(), ast.unparse(node)[:60]))
    assert [f for f, _ in found] == ["imports/rollback.py", "imports/rollback_sql.py"], found

    source = (APP / "imports" / "rollback.py").read_text()
    python_way = source[source.index("def delete_created(") :]
    assert "delete(contact_tags)" in python_way and "delete(segment_contacts)" in python_way
    source = (APP / "imports" / "rollback_sql.py").read_text()
    sql_way = source[source.index("def delete_created_in_sql(") :]
    assert '("contact_tags", "segment_contacts")' in sql_way
