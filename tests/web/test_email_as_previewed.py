"""One spelling of an email everywhere: what the import preview shows is what the contact
stores, and what the contacts page, the API and an export show."""

from __future__ import annotations

import csv
import io
import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import Contact, Tenant, User
from tests.exports.conftest import export_now, stored_bytes
from tests.imports.conftest import csv_bytes
from tests.web.api.conftest import issue_token
from tests.web.test_wizard import draft_of, options_form, post, through_mapping, upload, work

TYPED = "Ann@Example.COM"


def test_the_email_the_preview_shows_is_the_one_stored_listed_served_and_exported(
    app: Flask, client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    job = draft_of(upload(client, csv_bytes([["Email", "First Name"], [f" {TYPED} ", "Ann"]])))
    page = client.get(f"/imports/{job.id}/mapping").get_data(as_text=True)
    table = re.search(r'<table class="preview-table" id="preview-table">.*?</table>', page, re.S)
    assert table
    cells = re.findall(r"<td>([^<]*)</td>", table.group(0))
    previewed = cells[0]
    assert previewed == "ann@example.com"

    through_mapping(client, job)
    post(client, f"/imports/{job.id}/options", {**options_form(), "action": "continue"})
    work()  # the dry run
    post(client, f"/imports/{job.id}/start", {})
    work()

    assert db.session.scalars(select(Contact.email)).all() == [previewed]
    assert f">{previewed}<" in client.get("/contacts/").get_data(as_text=True)
    assert TYPED not in client.get("/contacts/").get_data(as_text=True)
    api = app.test_client(use_cookies=False)
    served = api.get("/api/contacts", headers={"Authorization": f"Bearer {issue_token(signed_in)}"})
    assert [c["email"] for c in served.get_json()["items"]] == [previewed]
    exported = stored_bytes(app, export_now(tenant, ["email", "first_name"])).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(exported)))[1] == [previewed, "Ann"]
