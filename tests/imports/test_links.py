"""Links and the journal have fewer foreign keys (migrations 0011, 0013): no orphan may remain.

The link tables lost their `contact_id` foreign key, tag links their `tag_id` key and journal
rows their `import_job_id` key, because checking them cost a trigger and a row lock per row
written. What the keys guaranteed is proved here instead: the one code path that deletes
contacts deletes their links first, tags are deleted only when unused and under a lock the
importing batches share, import jobs only as drafts (which have no journal), and a rollback
leaves no link behind on either database.
"""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, insert, select

from app.extensions import db
from app.imports.batch_write import ensure_tags
from app.imports.rollback_job import delete_unused_tags, run_rollback, start_rollback
from app.imports.rollback_tally import RollbackTally
from app.models import Contact, ImportEvent, ImportJob, Tag, Tenant, contact_tags, segment_contacts
from app.models.types import new_id
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


def other_orphans() -> dict[str, int]:
    """Tag links whose tag is gone, journal rows whose import is gone."""
    return {
        "tag links": db.session.scalar(
            select(func.count())
            .select_from(contact_tags)
            .where(contact_tags.c.tag_id.not_in(select(Tag.id)))
        ),
        "journal rows": db.session.scalar(
            select(func.count())
            .select_from(ImportEvent)
            .where(ImportEvent.import_job_id.not_in(select(ImportJob.id)))
        ),
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
        assert other_orphans() == {"tag links": 0, "journal rows": 0}

    assert snapshot(tenant.id)["old@example.com"]["tags"] == []
    assert db.session.scalar(select(func.count()).select_from(Tag)) == 0  # created, then unused
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

    result = RollbackTally.of(job)
    assert result is not None and (result.deleted, result.kept) == (3, 0)
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


def _deletes(node: ast.AST, model: str) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func_ = node.func
    table_delete = isinstance(func_, ast.Attribute) and func_.attr == "delete"
    if table_delete and model in ast.unparse(func_.value).split(".")[0]:  # Tag.__table__.delete()
        return True
    name = func_.id if isinstance(func_, ast.Name) else getattr(func_, "attr", "")
    return name == "delete" and bool(node.args) and model in ast.unparse(node.args[0])


def test_tags_and_import_jobs_are_deleted_only_where_nothing_refers_to_them() -> None:
    """Tags: only unused ones, under a lock; import jobs: only drafts, which have no journal."""
    tags, jobs = [], []
    for path in sorted(APP.rglob("*.py")):
        source = path.read_text()
        flat = source.replace('"', "").replace("'", "")
        assert "DELETE FROM tags" not in flat and "DELETE FROM import_jobs" not in flat, path
        for node in ast.walk(ast.parse(source)):
            if _deletes(node, "Tag"):
                tags.append(path.relative_to(APP).as_posix())
            session_delete = (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and ast.unparse(node.func).endswith("session.delete")
            )
            if _deletes(node, "ImportJob") or session_delete:  # the only session.delete: a draft
                jobs.append(path.relative_to(APP).as_posix())
    assert tags == ["imports/rollback_job.py"]
    assert jobs == ["imports/drafts.py", "jobs/maintenance.py"]

    source = (APP / "imports" / "rollback_job.py").read_text()
    deleting = source[source.index("def delete_unused_tags(") :]
    assert deleting.index("with_for_update()") < deleting.index("contact_tags.c.tag_id == tid")
    source = (APP / "jobs" / "maintenance.py").read_text()
    assert (
        "ImportJob.status == ImportStatus.DRAFT"
        in source[source.index("delete(ImportJob)") :][:200]
    )
    source = (APP / "web" / "wizard" / "confirm_step.py").read_text()
    assert "job = _draft(job_id)" in source[source.index("def discard(") :][:200]


def test_tenants_and_workspaces_are_never_deleted() -> None:
    """Contacts have no key to their tenant or workspace (migration 0018): what they point at
    must never go. A path that deletes one must bring the keys back or delete the contacts
    first, then change this test."""
    found = []
    for path in sorted(APP.rglob("*.py")):
        source = path.read_text()
        flat = source.replace('"', "").replace("'", "").lower()
        for table in ("tenants", "workspaces"):
            if f"delete from {table}" in flat:
                found.append((path.relative_to(APP).as_posix(), table))
        for node in ast.walk(ast.parse(source)):
            for model in ("Tenant", "Workspace"):
                if _deletes(node, model):
                    found.append((path.relative_to(APP).as_posix(), ast.unparse(node)[:60]))
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and ast.unparse(node.func).endswith("session.delete")
                and not ast.unparse(node.args[0]).startswith("job")  # a draft import
            ):
                found.append((path.relative_to(APP).as_posix(), ast.unparse(node)[:60]))
    assert found == []


def test_an_import_writes_its_jobs_tenant_and_workspace(run: ImportRunner, tenant: Tenant) -> None:
    """What the dropped keys checked, an import takes from its job (whose keys check them)."""
    content = csv_bytes([["Email"], ["a@example.com"], ["b@example.com"]])
    job = run(tenant, content, mapping={"Email": "email"}, segment_name="Fair")
    assert job.status == "completed", job.errors
    contacts = db.session.scalars(select(Contact).where(Contact.tenant_id == tenant.id)).all()
    assert len(contacts) == 2
    assert {(c.tenant_id, c.workspace_id) for c in contacts} == {(job.tenant_id, job.workspace_id)}
    linked = db.session.scalars(
        select(segment_contacts.c.segment_id).where(
            segment_contacts.c.contact_id.in_([c.id for c in contacts])
        )
    ).all()
    assert linked == [job.segment_id, job.segment_id]
    assert db.session.get(Tenant, job.tenant_id) is not None


@pytest.mark.postgresql_only(reason="row locks between two connections")
def test_a_rollback_does_not_delete_a_tag_a_running_batch_is_linking(
    app: Flask, tenant: Tenant
) -> None:
    tag = Tag(tenant_id=tenant.id, name="Spring", name_normalized="spring")
    db.session.add(tag)
    db.session.commit()
    tag_id = tag.id
    outcome: dict[str, object] = {}

    def roll_back() -> None:
        with app.app_context():
            outcome["deleted"] = delete_unused_tags([tag_id])
            db.session.commit()

    with db.engine.connect() as batch:
        transaction = batch.begin()
        ids, created = ensure_tags(batch, tenant.id, ["Spring"])  # the batch locks the tag
        assert (ids, created) == ({"spring": tag_id}, [])
        batch.execute(insert(contact_tags).values(contact_id=new_id(), tag_id=tag_id))
        rollback = threading.Thread(target=roll_back)
        rollback.start()
        rollback.join(timeout=1)
        assert rollback.is_alive()  # waits for the batch
        transaction.commit()
        rollback.join(timeout=10)

    assert outcome["deleted"] == []  # it saw the batch's link
    db.session.expire_all()
    assert db.session.get(Tag, tag_id) is not None
    assert other_orphans()["tag links"] == 0
