"""Custom fields and segments that two imports (or two people) create by the same name at once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import Contact, CustomField, Segment, Tenant, User
from app.models.types import new_id, utcnow
from tests.imports.conftest import ImportRunner, csv_bytes

pytestmark = pytest.mark.both_databases


@contextmanager
def a_colleague_creates_them_right_after_the_import_looks(
    tenant: Tenant, key: str = "zip", when: tuple[str, str] = ("after", "FROM custom_fields")
) -> Iterator[None]:
    """Once the import has read the tenant's custom fields, another connection commits the field
    `key` (type number, label "Postcode") and the segment "Fair": the window in which a
    concurrent import creates the same names. `when`: the moment, as the cursor event (before
    or after) of the first statement that matches a pattern."""
    done: list[bool] = []
    moment, text = when

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if done or not re.search(text, statement):
            return
        done.append(True)
        with db.engine.connect() as other:
            other.execute(
                CustomField.__table__.insert().values(
                    id=new_id(), tenant_id=tenant.id, key=key, label="Postcode",
                    field_type="number", created_at=utcnow(),
                )
            )  # fmt: skip
            other.execute(
                Segment.__table__.insert().values(
                    id=new_id(), tenant_id=tenant.id, name="Fair", created_at=utcnow()
                )
            )
            other.commit()

    event.listen(db.engine, f"{moment}_cursor_execute", after)
    try:
        yield
    finally:
        event.remove(db.engine, f"{moment}_cursor_execute", after)
    assert done, f"the import never ran a statement with {text!r}"


def test_an_import_uses_the_field_and_segment_a_concurrent_import_created_meanwhile(
    run: ImportRunner, tenant: Tenant
) -> None:
    """It failed with a unique-key error on custom_fields: the other import had won."""
    content = csv_bytes([["Email", "ZIP"], ["a@x.com", "1012"], ["b@x.com", "2000"]])
    with a_colleague_creates_them_right_after_the_import_looks(tenant):
        job = run(
            tenant, content, mapping={"Email": "email", "ZIP": "zip:text"}, segment_name="Fair"
        )
    assert job.status == "completed", job.failure_message
    assert job.created_count == 2
    fields = db.session.scalars(select(CustomField).where(CustomField.tenant_id == tenant.id)).all()
    assert [(f.key, f.field_type, f.label) for f in fields] == [("zip", "number", "Postcode")]
    segments = db.session.scalars(select(Segment).where(Segment.tenant_id == tenant.id)).all()
    assert [s.name for s in segments] == ["Fair"]
    assert job.segment_id == segments[0].id
    assert job.created_segment is False  # its rollback must not delete the colleague's segment
    members = db.session.scalar(
        select(func.count())
        .select_from(Contact)
        .where(Contact.segments.any(Segment.id == job.segment_id))
    )
    assert members == 2
    # the field's own type (number) decides how the cells are stored
    zips = sorted(c.custom_fields["zip"] for c in db.session.scalars(select(Contact)))
    assert zips == [1012, 2000]


def test_an_import_creates_the_field_and_segment_it_declares(
    run: ImportRunner, tenant: Tenant
) -> None:
    content = csv_bytes([["Email", "ZIP"], ["a@x.com", "1012"]])
    job = run(tenant, content, mapping={"Email": "email", "ZIP": "zip:text"}, segment_name="Fair")
    assert job.status == "completed", job.failure_message
    field = db.session.scalar(select(CustomField).where(CustomField.tenant_id == tenant.id))
    assert field is not None and (field.key, field.field_type, field.label) == (
        "zip",
        "text",
        "ZIP",
    )
    assert job.created_segment is True
    contact = db.session.scalar(select(Contact).where(Contact.tenant_id == tenant.id))
    assert contact is not None and contact.custom_fields == {"zip": "1012"}


def test_starting_an_import_in_the_wizard_uses_the_field_a_colleague_created_meanwhile(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    """The wizard creates the new fields of the mapping step when the import starts."""
    from tests.conftest import csrf_token
    from tests.web.test_wizard import draft_of, options_form, post, through_mapping, upload, work

    content = csv_bytes([["Email", "Town"], ["ada@example.com", "42"]])
    job = draft_of(upload(client, content))
    assert through_mapping(client, job, Town="__new__").status_code == 303
    db.session.expire_all()
    assert job.field_mapping["Town"] == "town:text"
    post(client, f"/imports/{job.id}/options", {**options_form(), "action": "continue"})
    url = f"/imports/{job.id}/start"
    token = csrf_token(client, url)  # the page a person clicks Start on, read before the race
    # the view reads the fields several times; the race is lost between its last read and its insert
    just_before_the_insert = ("before", r'INSERT INTO "?custom_fields')
    with a_colleague_creates_them_right_after_the_import_looks(
        tenant, "town", just_before_the_insert
    ):
        assert client.post(url, data={"csrf_token": token}).status_code == 303
    work()
    db.session.expire_all()
    assert job.status == "completed", job.failure_message
    field = db.session.scalar(select(CustomField).where(CustomField.tenant_id == tenant.id))
    assert field is not None and (field.key, field.label) == ("town", "Postcode")
    contact = db.session.scalar(select(Contact).where(Contact.tenant_id == tenant.id))
    assert contact is not None and contact.custom_fields == {"town": 42}
