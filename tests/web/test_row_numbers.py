"""The pages name an NDJSON file's rows by line, as the messages do, from upload to history."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from app.extensions import db
from app.models import User
from tests.web.test_wizard import draft_of, options_form, post, through_mapping, upload, work

# Line 2 is blank; line 3 has a bad email, line 4 none.
PEOPLE = (
    b'{"email": "ann@example.com", "first_name": "Ann"}\n'
    b"\n"
    b'{"email": "not-an-email", "first_name": "Bad"}\n'
    b'{"first_name": "NoEmail"}\n'
)
NO_EMAIL = "Line 4 has no email address in column &#39;email&#39;: add one or remove the line."


def number_column(page: str, table_id: str) -> list[str]:
    """The heading and the first cell of every body row of a table."""
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert table, f"no table {table_id}"
    heading = re.search(r"<th scope=\"col\">([^<]+)</th>", table.group(0))
    cells = re.findall(r"<tr><(?:td|th scope=\"row\")>(\d+)</(?:td|th)>", table.group(0))
    return [heading.group(1) if heading else "", *cells]


def test_an_ndjson_import_names_its_rows_by_line_on_every_page(
    client: FlaskClient, signed_in: User
) -> None:
    job = draft_of(upload(client, PEOPLE, "people.ndjson"))
    page = client.get(f"/imports/{job.id}/file").get_data(as_text=True)
    assert number_column(page, "raw-rows") == ["Line", "1", "3", "4"]

    page = client.get(f"/imports/{job.id}/mapping").get_data(as_text=True)
    assert re.search(r'<tr><th scope="col">Line</th>', page)
    assert NO_EMAIL in page

    through_mapping(client, job)
    post(client, f"/imports/{job.id}/options", {**options_form(), "action": "continue"})
    work()  # the dry run
    page = client.get(f"/imports/{job.id}/confirm").get_data(as_text=True)
    assert number_column(page, "dry-run-errors") == ["Line", "3", "4"]
    assert NO_EMAIL in page
    rows = client.get(f"/imports/{job.id}/dry-run/errors.csv").get_data().decode("utf-8-sig")
    assert rows.splitlines()[0] == "email,first_name,line,error"
    assert [line.split(",")[2] for line in rows.splitlines()[1:]] == ["3", "4"]

    post(client, f"/imports/{job.id}/start", {})
    work()
    db.session.expire_all()
    page = client.get(f"/imports/{job.id}").get_data(as_text=True)
    assert number_column(page, "job-errors") == ["Line", "3", "4"]
    assert NO_EMAIL in page
    page = client.get(f"/history/imports/{job.id}").get_data(as_text=True)
    assert re.search(r'<th scope="col">Line</th><th scope="col">Column</th>', page)
    assert re.search(r"<tr><td>4</td><td>email</td>", page)
    report = client.get(f"/imports/{job.id}/error-report").get_data().decode("utf-8-sig")
    assert report.splitlines()[0] == "email,first_name,line,error"
    assert [line.split(",")[2] for line in report.splitlines()[1:]] == ["3", "4"]
