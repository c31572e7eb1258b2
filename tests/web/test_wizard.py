"""The import wizard through the test client: forms posted as a browser would, CSRF on."""

from __future__ import annotations

import io
import re
import uuid
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import Workbook
from rq import SimpleWorker
from sqlalchemy import func, select

from app.extensions import db
from app.jobs.maintenance import run_cleanup
from app.jobs.queue import get_queue, redis_connection
from app.models import Contact, CustomField, ImportJob, Segment, Tenant, User
from app.models.types import utcnow
from tests.conftest import csrf_token
from tests.imports.conftest import add_contact, csv_bytes, new_job, snapshot

LEADS = csv_bytes(
    [
        ["E-mail Address", "Frist Name", "Surname", "Company", "Mobile Phone", "Town"],
        ["ada@example.com", "Ada", "Lovelace", "Analytical", "+44 20 7946 0958", "London"],
        ["grace@example.com", "Grace", "Hopper", "Navy", "+1 202 555 0143", "Arlington"],
        ["not-an-email", "Bad", "Row", "Nowhere", "", ""],
        ["alan@example.com", "Alan", "Turing", "Bletchley", "", "Wilmslow"],
    ]
)


def work() -> None:
    """Run every queued job on a real (in-process) RQ worker until the queue is empty."""
    db.session.expire_all()  # the worker shares this session: forget what the test read
    SimpleWorker([get_queue("imports")], connection=redis_connection()).work(burst=True)


def upload(client: FlaskClient, content: bytes, name: str = "leads.csv", **headers: str) -> object:
    """Post a file on the upload step as the browser form does."""
    token = csrf_token(client, "/imports/new")
    return client.post(
        "/imports/new",
        data={"csrf_token": token, "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
        headers=headers,
    )


def draft_of(response: object) -> ImportJob:
    """The draft a successful upload redirected to."""
    location = response.headers["Location"]  # type: ignore[attr-defined]
    match = re.search(r"/imports/([0-9a-f-]{36})/file", location)
    assert match, location
    db.session.expire_all()
    return db.session.get(ImportJob, uuid.UUID(match.group(1)))


def post(client: FlaskClient, url: str, data: dict[str, object], **headers: str) -> object:
    """Post a form with the page's CSRF token, like a browser."""
    token = csrf_token(client, url)
    return client.post(url, data={"csrf_token": token, **data}, headers=headers)


def mapping_form(job: ImportJob, **choices: str) -> dict[str, str]:
    """The mapping form as the page rendered it, with some pickers changed by header."""
    headers = job.import_options["wizard"]["headers"]
    current = job.import_options["wizard"]["choices"]
    data = {}
    for index, header in enumerate(headers):
        data[f"map-{index}"] = choices.get(header, current[header])
        data[f"new-name-{index}"] = header  # the page fills in the column's name
        data[f"new-type-{index}"] = "text"
    return data


def through_mapping(client: FlaskClient, job: ImportJob, **choices: str) -> object:
    data = mapping_form(job, **choices)
    return post(client, f"/imports/{job.id}/mapping", {**data, "action": "continue"})


def options_form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "duplicate_strategy": "update",
        "new_tags": "",
        "segment_mode": "none",
        "validate_email": "y",
        "default_region": "",
        "tags_mode": "add",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- upload --------------------------------------------------------------------------------


def test_upload_stores_the_file_and_shows_what_was_detected(
    client: FlaskClient, signed_in: User
) -> None:
    response = upload(client, LEADS)
    assert response.status_code == 303
    job = draft_of(response)
    assert job.status == "draft" and job.file_name == "leads.csv" and job.file_size == len(LEADS)
    assert job.created_by == signed_in.id
    page = client.get(f"/imports/{job.id}/file").get_data(as_text=True)
    assert "CSV or TSV" in page and "Comma" in page and "UTF-8" in page
    assert re.search(r'id="fact-columns">6<', page)
    assert re.search(r'id="fact-rows">4<', page)
    assert "ada@example.com" in page  # the first rows, raw


def test_upload_refuses_an_empty_file_with_a_sentence(client: FlaskClient, signed_in: User) -> None:
    response = upload(client, b"")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "The file is empty" in page
    assert 'aria-describedby="file-hint file-error"' in page
    assert db.session.scalar(select(func.count(ImportJob.id))) == 0


def test_upload_refuses_a_binary_file(client: FlaskClient, signed_in: User) -> None:
    response = upload(client, b"\x00\x01\x02\x03binary\x00" * 50, "photo.csv")
    assert response.status_code == 400
    assert "binary data" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(ImportJob.id))) == 0


def test_upload_refuses_a_file_with_a_header_but_no_rows(
    client: FlaskClient, signed_in: User
) -> None:
    response = upload(client, b"Email,Name\n")
    assert response.status_code == 400
    assert "no rows below them" in response.get_data(as_text=True)


def test_upload_refuses_a_broken_workbook(client: FlaskClient, signed_in: User) -> None:
    response = upload(client, b"this is not a workbook", "contacts.xlsx")
    assert response.status_code == 400
    assert "not a valid Excel workbook" in response.get_data(as_text=True)


def test_upload_refuses_a_file_over_the_limit(
    app: Flask, client: FlaskClient, signed_in: User
) -> None:
    token = csrf_token(client, "/imports/new")
    app.config["MAX_CONTENT_LENGTH"] = 2000
    response = client.post(
        "/imports/new",
        data={"csrf_token": token, "file": (io.BytesIO(b"Email\n" + b"a@b.co\n" * 1000), "x.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "larger than the upload limit of 2 KB" in page and "Choose a file" in page


def test_upload_without_a_file_asks_for_one(client: FlaskClient, signed_in: User) -> None:
    token = csrf_token(client, "/imports/new")
    response = client.post("/imports/new", data={"csrf_token": token})
    assert response.status_code == 400
    assert "Choose a file to import" in response.get_data(as_text=True)


def test_upload_from_javascript_gets_json(client: FlaskClient, signed_in: User) -> None:
    ok = upload(client, LEADS, Accept="application/json")
    assert ok.status_code == 200 and ok.json["next"].endswith("/file")
    refused = upload(client, b"", Accept="application/json")
    assert refused.status_code == 400 and "empty" in refused.json["error"]


# --- file settings -------------------------------------------------------------------------


def test_changing_the_delimiter_reads_the_file_again(client: FlaskClient, signed_in: User) -> None:
    job = draft_of(upload(client, b"Email;Name\na@example.com;Ada\nb@example.com;Bo\n"))
    page = client.get(f"/imports/{job.id}/file").get_data(as_text=True)
    assert "Semicolon" in page and re.search(r'id="fact-columns">2<', page)
    response = post(
        client,
        f"/imports/{job.id}/file",
        {"file_type": "csv", "encoding": "utf-8", "delimiter": ",", "action": "reread"},
    )
    assert response.status_code == 303
    page = client.get(f"/imports/{job.id}/file").get_data(as_text=True)
    assert re.search(r'id="fact-columns">1<', page) and "You changed what was detected" in page
    db.session.expire_all()
    assert job.import_options["wizard"]["headers"] == ["Email;Name"]


def test_a_wrong_setting_is_explained_and_not_saved(client: FlaskClient, signed_in: User) -> None:
    job = draft_of(upload(client, LEADS))
    response = post(
        client,
        f"/imports/{job.id}/file",
        {"file_type": "xlsx", "action": "continue"},
    )
    assert response.status_code == 422
    assert "not" in response.get_data(as_text=True) and "workbook" in response.get_data(
        as_text=True
    )
    db.session.expire_all()
    assert job.file_type == "csv"


def workbook_bytes() -> bytes:
    wb = Workbook()
    notes = wb.active
    notes.title = "Read me"
    notes.append(["The attendees are on the second sheet."])
    old = wb.create_sheet("Attendees 2025")
    old.append(["Email", "Name"])
    old.append(["old@example.com", "Old"])
    sheet = wb.create_sheet("Attendees 2026")
    sheet.append(["Email", "First Name", "Attended on"])
    sheet.append(["ada@example.com", "Ada", "2026-10-01"])
    sheet.append(["bob@example.com", "Bob", "not a date"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_workbook_sheet_can_be_chosen(client: FlaskClient, signed_in: User) -> None:
    job = draft_of(upload(client, workbook_bytes(), "event.xlsx"))
    page = client.get(f"/imports/{job.id}/file").get_data(as_text=True)
    assert "Excel workbook" in page and "3 sheets in this workbook" in page
    # The "Read me" sheet has no rows under its first line: the first sheet with contacts is used.
    assert re.search(r'id="fact-sheet">Attendees 2025<', page)
    response = post(
        client,
        f"/imports/{job.id}/file",
        {"file_type": "xlsx", "sheet": "Attendees 2026"},
        **{"HX-Request": "true"},
    )
    partial = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in partial
    assert re.search(r'id="fact-sheet">Attendees 2026<', partial)
    assert re.search(r'id="fact-columns">3<', partial)
    db.session.expire_all()
    assert job.import_options["sheet"] == "Attendees 2026"
    assert job.import_options["wizard"]["choices"]["Email"] == "email"


# --- mapping -------------------------------------------------------------------------------


def test_mapping_suggests_fields_and_says_why(client: FlaskClient, signed_in: User) -> None:
    job = draft_of(upload(client, LEADS))
    page = client.get(f"/imports/{job.id}/mapping").get_data(as_text=True)
    choices = job.import_options["wizard"]["choices"]
    assert choices == {
        "E-mail Address": "email",
        "Frist Name": "first_name",
        "Surname": "last_name",
        "Company": "company",
        "Mobile Phone": "phone",
        "Town": "__new__",  # a common column: suggested as a new custom field
    }
    assert job.import_options["wizard"]["new_fields"]["Town"] == {"name": "city", "type": "text"}
    assert "Common column" in page and "a new custom field &#39;city&#39; (text)" in page
    assert "Known alias" in page and "Matches the alias &#39;E-mail Address&#39; (Outlook)" in page
    assert re.search(r"Similar name · \d+%", page)
    assert "Exact match" in page
    assert re.search(r'<option value="email" selected>Email</option>', page)


def test_mapping_reads_the_values_of_an_address_book_export(
    client: FlaskClient, signed_in: User
) -> None:
    """Several phone columns, the first one empty; an email column with an odd German header."""
    book = csv_bytes(
        [
            ["Vorname", "Kontakt (geschäftlich, bevorzugt)", "Telefon privat", "Mobiltelefon"],
            *[[f"P{n}", f"p{n}@example.de", "", f"+49 171 55500{n:02d}"] for n in range(12)],
        ]
    )
    job = draft_of(upload(client, book, "adressbuch.csv"))
    assert job.import_options["wizard"]["choices"] == {
        "Vorname": "first_name",
        "Kontakt (geschäftlich, bevorzugt)": "email",
        "Telefon privat": "ignore",
        "Mobiltelefon": "phone",
    }
    page = client.get(f"/imports/{job.id}/mapping").get_data(as_text=True)
    assert "Known spelling, German (&#39;Vorname&#39;)" in page
    assert "From its values" in page and "12 of 12 sampled values are email addresses" in page
    assert "Empty in the first 12 rows: nothing to import from this column" in page


def test_mapping_remembers_the_tenant_last_choice(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    db.session.add(CustomField(tenant_id=tenant.id, key="city", label="City", field_type="text"))
    db.session.add(
        ImportJob(
            tenant_id=tenant.id,
            file_name="old.csv",
            status="completed",
            field_mapping={"Town": "custom:city", "E-mail Address": "email"},
        )
    )
    db.session.commit()
    job = draft_of(upload(client, LEADS))
    assert job.import_options["wizard"]["choices"]["Town"] == "custom:city"
    page = client.get(f"/imports/{job.id}/mapping").get_data(as_text=True)
    assert "Remembered" in page and "You mapped this header the same way last time" in page


def test_preview_shows_stored_values_and_highlights_invalid_cells(
    client: FlaskClient, signed_in: User
) -> None:
    job = draft_of(upload(client, LEADS))
    page = client.get(f"/imports/{job.id}/mapping").get_data(as_text=True)
    assert "+442079460958" in page  # phone in E.164
    cell = re.search(
        r'<td class="cell-invalid" tabindex="0" aria-describedby="(cell-4-\d+)">\s*'
        r'<span class="cell-value">not-an-email</span>\s*'
        r'<span class="cell-message" role="tooltip" id="\1">([^<]+)</span>',
        page,
    )
    assert cell, "the invalid email of row 4 is highlighted with its message"
    assert "not-an-email" in cell.group(2)
    assert "1 with a problem" in page
    assert '<button type="submit" name="action" value="continue" id="continue">' in page


def test_continue_is_disabled_until_email_is_mapped_and_says_why(
    client: FlaskClient, signed_in: User
) -> None:
    job = draft_of(upload(client, LEADS))
    response = through_mapping(client, job, **{"E-mail Address": "ignore"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Continue is not available yet" in page
    assert "Map a column to Email" in page
    assert re.search(r'id="continue" disabled aria-describedby="mapping-problems"', page)
    assert client.get(f"/imports/{job.id}/options").status_code == 303  # not reachable yet


def test_a_field_mapped_twice_is_explained(client: FlaskClient, signed_in: User) -> None:
    job = draft_of(upload(client, LEADS))
    response = through_mapping(client, job, Surname="first_name")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "&#39;Frist Name&#39; and &#39;Surname&#39; are both mapped to First name" in page


def test_htmx_change_saves_the_mapping_and_returns_the_live_part(
    client: FlaskClient, signed_in: User
) -> None:
    job = draft_of(upload(client, LEADS))
    data = mapping_form(job, Town="tags")
    response = post(client, f"/imports/{job.id}/mapping", data, **{"HX-Request": "true"})
    partial = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in partial
    assert 'id="preview-table"' in partial and 'hx-swap-oob="true"' in partial
    assert '<span class="badge">London</span>' in partial  # the tags, as tags
    # The choice is on the server: a reload shows it.
    page = client.get(f"/imports/{job.id}/mapping").get_data(as_text=True)
    assert '<option value="tags" selected>' in page and "Your choice" in page


def test_a_new_custom_field_needs_a_name_and_is_created_when_the_import_starts(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    job = draft_of(upload(client, LEADS))
    response = through_mapping(client, job, Town="__new__")
    assert response.status_code == 303  # named after the column by default
    data = {**mapping_form(job, Town="__new__"), "new-name-5": "", "action": "continue"}
    response = post(client, f"/imports/{job.id}/mapping", data)
    assert response.status_code == 422
    assert "Give the new field a name." in response.get_data(as_text=True)

    data = {**mapping_form(job, Town="__new__"), "new-name-5": "Home town", "new-type-5": "text"}
    response = post(client, f"/imports/{job.id}/mapping", {**data, "action": "continue"})
    assert response.status_code == 303
    db.session.expire_all()
    assert job.field_mapping["Town"] == "home_town:text"
    assert db.session.scalar(select(func.count(CustomField.id))) == 0  # not before the start

    post(client, f"/imports/{job.id}/options", {**options_form(), "action": "continue"})
    assert post(client, f"/imports/{job.id}/start", {}).status_code == 303
    field = db.session.scalar(select(CustomField).where(CustomField.tenant_id == tenant.id))
    assert (field.key, field.label, field.field_type) == ("home_town", "Home town", "text")
    work()
    contacts = snapshot(tenant.id)
    assert contacts["ada@example.com"]["custom"] == {"home_town": "London"}


# --- options, confirm, start ---------------------------------------------------------------


def test_options_are_saved_and_a_dry_run_shows_what_would_happen(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    add_contact(tenant, "grace@example.com", first_name="Grace", company="Old Co")
    add_contact(tenant, "alan@example.com", first_name="Alan", subscription_status="unsubscribed")
    job = draft_of(upload(client, LEADS))
    through_mapping(client, job)
    page = client.get(f"/imports/{job.id}/options").get_data(as_text=True)
    assert "Skip" in page and "Update" in page and "Create only" in page
    assert "existing ones only get the tags and segment" in page.lower()
    form = options_form(
        new_tags="spring, webinar",
        segment_mode="new",
        new_segment="Spring leads",
        default_region="GB",
        **{"rule-company": "fill_empty"},
    )
    response = post(client, f"/imports/{job.id}/options", {**form, "action": "continue"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/confirm")
    db.session.expire_all()
    options = job.import_options
    assert options["tags"] == ["spring", "webinar"]
    assert options["segment_name"] == "Spring leads"
    assert options["default_region"] == "GB"
    assert options["field_rules"] == {"company": "fill_empty"}
    assert job.dry_run_status == "pending"

    page = client.get(f"/imports/{job.id}/confirm").get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in page and "Checking every row" in page
    work()
    page = client.get(f"/imports/{job.id}/confirm").get_data(as_text=True)
    assert 'hx-trigger="every 1s"' not in page
    assert re.search(r'id="would-create">1<', page)  # ada
    assert re.search(r'id="would-update">2<', page)  # grace and alan
    assert re.search(r'id="would-fail">1<', page)
    assert "1 row matches unsubscribed or bounced contacts" in page
    assert "Last name 2" in visible(page)  # both would get a new last name
    assert "would join the segment “Spring leads”" in page
    assert "download the row with errors (CSV)" in page
    assert db.session.scalar(select(func.count(Contact.id))) == 2  # nothing written


def test_the_dry_run_error_file_lists_every_failing_row(
    client: FlaskClient, signed_in: User
) -> None:
    job = draft_of(upload(client, LEADS))
    through_mapping(client, job)
    post(client, f"/imports/{job.id}/options", {**options_form(), "action": "continue"})
    response = client.get(f"/imports/{job.id}/dry-run/errors.csv")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data().decode("utf-8-sig").splitlines()
    assert text[0] == "E-mail Address,Frist Name,Surname,Company,Mobile Phone,Town,row,error"
    assert len(text) == 2 and text[1].startswith("not-an-email,Bad,Row,Nowhere,,,4,")


def test_a_missing_segment_name_is_tied_to_its_field(client: FlaskClient, signed_in: User) -> None:
    job = draft_of(upload(client, LEADS))
    through_mapping(client, job)
    response = post(
        client,
        f"/imports/{job.id}/options",
        {**options_form(segment_mode="new", new_segment=""), "action": "continue"},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert '<small id="new_segment-error" class="field-error">Type a name' in page
    assert 'aria-describedby="new_segment-error"' in page


def test_options_autosave_without_moving_on(client: FlaskClient, signed_in: User) -> None:
    job = draft_of(upload(client, LEADS))
    through_mapping(client, job)
    response = post(
        client,
        f"/imports/{job.id}/options",
        options_form(duplicate_strategy="skip"),
        **{"HX-Request": "true"},
    )
    assert response.status_code == 204
    db.session.expire_all()
    assert job.import_options["duplicate_strategy"] == "skip"
    page = client.get(f"/imports/{job.id}/options").get_data(as_text=True)
    assert re.search(r'value="skip"\s+aria-describedby="strategy-skip-text"\s+checked', page)


def test_start_queues_the_import_once_and_the_job_page_follows_it(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    job = draft_of(upload(client, LEADS))
    through_mapping(client, job)
    post(client, f"/imports/{job.id}/options", {**options_form(), "action": "continue"})
    work()  # the dry run
    response = post(client, f"/imports/{job.id}/start", {})
    assert response.status_code == 303 and response.headers["Location"] == f"/imports/{job.id}"
    db.session.expire_all()
    assert job.status == "pending"
    token = csrf_token(client, f"/imports/{job.id}")
    second = client.post(f"/imports/{job.id}/start", data={"csrf_token": token})
    assert second.status_code == 303 and second.headers["Location"] == f"/imports/{job.id}"
    assert client.get(f"/imports/{job.id}/mapping").status_code == 303

    waiting = client.get(f"/imports/{job.id}", headers={"HX-Request": "true"})
    assert 'hx-trigger="every 1s"' in waiting.get_data(as_text=True)
    assert "Cancel import" in waiting.get_data(as_text=True)
    work()
    done = client.get(f"/imports/{job.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in done and 'hx-trigger="every 1s"' not in done
    assert 'id="percent">100%<' in done
    assert re.search(r'id="count-created">3<', done) and re.search(r'id="count-errors">1<', done)
    assert "Download the error report" in done and "Roll back this import" in done
    assert "Import another file" in done
    contacts = snapshot(tenant.id)
    assert sorted(contacts) == ["ada@example.com", "alan@example.com", "grace@example.com"]
    assert contacts["ada@example.com"]["phone"] == "+442079460958"
    report = client.get(f"/imports/{job.id}/error-report")
    assert report.status_code == 200 and b"not-an-email" in report.get_data()


def test_cancel_stops_a_queued_import(client: FlaskClient, signed_in: User) -> None:
    job = draft_of(upload(client, LEADS))
    through_mapping(client, job)
    post(client, f"/imports/{job.id}/options", {**options_form(), "action": "continue"})
    post(client, f"/imports/{job.id}/start", {})
    response = post(client, f"/imports/{job.id}/cancel", {})
    assert response.status_code == 303
    db.session.expire_all()
    assert job.status == "cancelled"
    page = client.get(f"/imports/{job.id}").get_data(as_text=True)
    assert "Import cancelled" in page and "Cancel import" not in page


def test_discarding_a_draft_deletes_it_and_its_file(
    app: Flask, client: FlaskClient, signed_in: User
) -> None:
    job = draft_of(upload(client, LEADS))
    key = job.file_url
    storage = app.extensions["storage"]
    assert storage.exists(key)
    dashboard = client.get("/").get_data(as_text=True)
    assert "Unfinished imports" in dashboard and "Resume" in dashboard
    assert f'href="/imports/{job.id}/file"' in dashboard
    token = csrf_token(client, "/")
    response = client.post(f"/imports/{job.id}/discard", data={"csrf_token": token})
    assert response.status_code == 303
    assert db.session.scalar(select(func.count(ImportJob.id))) == 0
    assert not storage.exists(key)
    assert "Unfinished imports" not in client.get("/").get_data(as_text=True)


def test_drafts_are_deleted_with_their_file_after_the_retention_and_the_dashboard_says_so(
    app: Flask, client: FlaskClient, signed_in: User
) -> None:
    job = draft_of(upload(client, LEADS))
    job_id, key, storage = job.id, job.file_url, app.extensions["storage"]
    dashboard = client.get("/").get_data(as_text=True)
    assert "Kept for 30 days after the upload, then deleted with their file." in dashboard

    assert run_cleanup(now=utcnow() + timedelta(days=29)).drafts_deleted == 0
    assert storage.exists(key)
    result = run_cleanup(now=utcnow() + timedelta(days=31))
    assert (result.drafts_deleted, result.unused_uploads_deleted) == (1, 0)
    db.session.expire_all()
    assert db.session.get(ImportJob, job_id) is None
    assert not storage.exists(key)
    assert "Unfinished imports" not in client.get("/").get_data(as_text=True)


def test_a_draft_resumes_at_the_furthest_step(client: FlaskClient, signed_in: User) -> None:
    job = draft_of(upload(client, LEADS))
    through_mapping(client, job)
    response = client.get(f"/imports/{job.id}")
    assert response.status_code == 303 and response.headers["Location"].endswith("/options")
    page = client.get(f"/imports/{job.id}/options").get_data(as_text=True)
    assert f'href="/imports/{job.id}/mapping"' in page  # the stepper links back


def test_wizard_pages_are_never_cached(client: FlaskClient, signed_in: User) -> None:
    job = draft_of(upload(client, LEADS))
    response = client.get(f"/imports/{job.id}/mapping")
    assert response.headers["Cache-Control"] == "no-store"
    assert "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize("step", ["file", "mapping", "options", "confirm"])
def test_an_unknown_draft_is_404(client: FlaskClient, signed_in: User, step: str) -> None:
    assert client.get(f"/imports/{uuid.uuid4()}/{step}").status_code == 404
    assert client.get(f"/imports/not-an-id/{step}").status_code == 404


def test_segment_named_in_the_options_is_created_by_the_import(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    job = draft_of(upload(client, LEADS))
    through_mapping(client, job)
    form = options_form(segment_mode="new", new_segment="From the fair")
    post(client, f"/imports/{job.id}/options", {**form, "action": "continue"})
    post(client, f"/imports/{job.id}/start", {})
    work()
    assert db.session.scalar(select(Segment.name).where(Segment.tenant_id == tenant.id)) == (
        "From the fair"
    )


def test_an_htmx_request_for_a_started_import_loads_its_page(
    client: FlaskClient, signed_in: User
) -> None:
    job = draft_of(upload(client, LEADS))
    through_mapping(client, job)
    post(client, f"/imports/{job.id}/options", {**options_form(), "action": "continue"})
    post(client, f"/imports/{job.id}/start", {})
    response = client.get(f"/imports/{job.id}/dry-run", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/imports/{job.id}"


def test_phone_countries_are_by_name_with_the_tenant_usual_one_first(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    for region in ("DE", "DE", "GB", None):
        db.session.add(
            ImportJob(
                tenant_id=tenant.id,
                status="completed",
                import_options={"file_name": "old.csv", "default_region": region},
            )
        )
    db.session.commit()
    job = draft_of(upload(client, LEADS))
    through_mapping(client, job)
    page = client.get(f"/imports/{job.id}/options").get_data(as_text=True)
    picker = re.search(r'<select[^>]*id="default_region".*?</select>', page, re.S)
    assert picker
    labels = re.findall(r"<option[^>]*>([^<]*)</option>", picker.group(0))
    assert labels[:5] == [
        "None: numbers must include the country code",
        "Germany (DE)",
        "Afghanistan (AF)",
        "Åland Islands (AX)",
        "Albania (AL)",
    ]
    assert labels.count("Germany (DE)") == 1
    assert "Ascension Island (AC)" in labels and "AC (AC)" not in labels


def running_import(tenant: Tenant, processed: int = 4000, total: int = 10_000) -> ImportJob:
    """An import a worker is writing: `processed` of `total` rows done."""
    job = new_job(tenant, LEADS, "big-list.csv", mapping={"E-mail Address": "email"})
    job.status, job.started_at = "processing", utcnow() - timedelta(seconds=20)
    job.total_rows, job.processed_rows, job.created_count = total, processed, processed
    db.session.commit()
    return job


CANCEL_QUESTION = "Stop this import? Rows already imported stay imported and can be rolled back."


def visible(html: str) -> str:
    """The words of a page as a reader sees them: tags dropped, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def test_cancel_asks_for_confirmation_on_a_page_of_its_own_without_javascript(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    job = running_import(tenant)
    page = client.get(f"/imports/{job.id}").get_data(as_text=True)
    assert re.search(rf'<a href="/imports/{job.id}/cancel"[^>]*>Cancel import</a>', page)

    asked = client.get(f"/imports/{job.id}/cancel")
    text = " ".join(asked.get_data(as_text=True).split())
    assert asked.status_code == 200 and CANCEL_QUESTION in visible(text)
    assert re.search(rf'<form method="post" action="/imports/{job.id}/cancel"', text)
    assert ">Yes, stop the import</button>" in text
    assert re.search(rf'<a href="/imports/{job.id}"[^>]*>Keep importing</a>', text)
    db.session.expire_all()
    assert not job.cancel_requested  # asking changes nothing

    stopped = post(client, f"/imports/{job.id}/cancel", {})
    assert stopped.status_code == 303 and stopped.headers["Location"] == f"/imports/{job.id}"
    db.session.expire_all()
    assert job.cancel_requested and job.status == "processing"
    page = client.get(f"/imports/{job.id}").get_data(as_text=True)
    assert "Stopping…" in page and "Cancel import" not in page


def test_cancel_with_htmx_asks_inside_the_progress_card_which_keeps_polling(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    job = running_import(tenant)
    asked = client.get(f"/imports/{job.id}/cancel", headers={"HX-Request": "true"})
    text = " ".join(asked.get_data(as_text=True).split())
    assert "<html" not in text and CANCEL_QUESTION in visible(text)
    # the poll asks the same question again, so the next second does not wipe it away
    assert f'hx-get="/imports/{job.id}/cancel" hx-trigger="every 1s"' in text
    assert f'hx-post="/imports/{job.id}/cancel"' in text
    assert re.search(rf'hx-get="/imports/{job.id}"[^>]*>Keep importing</a>', text)
    assert 'id="percent">40%<' in text

    job.status, job.completed_at = "completed", utcnow()
    job.processed_rows = job.total_rows
    db.session.commit()
    ended = client.get(f"/imports/{job.id}/cancel", headers={"HX-Request": "true"})
    text = ended.get_data(as_text=True)
    assert CANCEL_QUESTION not in text and 'hx-trigger="every 1s"' not in text
    assert "Import finished" in text


def test_the_cancel_page_of_an_ended_import_says_so(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    job = running_import(tenant)
    job.status, job.completed_at, job.cancel_requested = "cancelled", utcnow(), True
    db.session.commit()
    text = client.get(f"/imports/{job.id}/cancel").get_data(as_text=True)
    assert CANCEL_QUESTION not in text and "Yes, stop the import" not in text
    assert "This import has already ended (cancelled)." in text


def test_a_cancelled_import_shows_where_it_stopped_not_100_percent(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    job = running_import(tenant, processed=4000, total=10_000)
    job.status, job.completed_at, job.cancel_requested = "cancelled", utcnow(), True
    db.session.commit()
    page = " ".join(client.get(f"/imports/{job.id}").get_data(as_text=True).split())
    assert "Import cancelled" in page
    bar = page[page.index('class="progress-bar-row"') :].split("</p>")[0]  # bar and its line
    assert 'id="percent">40%<' in bar and "100%" not in visible(bar)
    assert re.search(r'<progress id="progress-bar"[^>]* value="40"', page)
    assert re.search(
        r"Stopped at row <span[^>]*>4,000</span> of <span[^>]*>10,000</span> \(40%\)", page
    )


def test_the_review_step_draws_the_outcome_and_the_field_changes_as_bars_with_their_numbers(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    add_contact(tenant, "grace@example.com", first_name="Grace", company="Old Co")
    add_contact(tenant, "alan@example.com", first_name="Alan", last_name="Turing")
    job = draft_of(upload(client, LEADS))
    through_mapping(client, job)
    post(client, f"/imports/{job.id}/options", {**options_form(), "action": "continue"})
    work()
    page = client.get(f"/imports/{job.id}/confirm").get_data(as_text=True)

    chart = page[page.index('id="dry-run-outcome"') :].split("</figure>")[0]
    assert re.search(
        r'<svg class="chart-bar" role="img" '
        r'aria-labelledby="dry-run-outcome-title dry-run-outcome-legend"',
        chart,
    )
    bars = re.findall(r'<rect class="chart-(\w+)" x="([\d.]+)%" y="0" width="([\d.]+)%"', chart)
    assert [kind for kind, _, _ in bars] == ["created", "updated", "refused"]  # zeros left out
    assert sum(float(width) for _, _, width in bars) == pytest.approx(100)
    legend = visible(chart[chart.index('id="dry-run-outcome-legend"') :])
    assert "would be created: 1 (25%)" in legend
    assert "would be updated: 2 (50%)" in legend
    assert "refused for errors: 1 (25%)" in legend
    assert "What the import would do with the 4 rows of the file" in visible(chart)

    fields = page[page.index('id="field-changes"') :].split("</figure>")[0]
    text = visible(fields)
    assert "How many of the 2 contacts that would be updated get a new value" in text
    assert "Last name 1" in text and "Company 2" in text
    widths = dict(
        re.findall(
            r'<span class="chart-label">([^<]+)</span>\s*<svg[^>]*>.*?'
            r'<rect class="chart-field" x="0" y="0" width="([\d.]+)%"',
            fields,
            re.S,
        )
    )
    assert widths["Company"] == "100.0" and widths["Last name"] == "50.0"
