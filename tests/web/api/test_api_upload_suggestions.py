"""POST /api/uploads says what it found in the file and suggests the mapping the wizard would,
with the reason for each column; the suggestion imports as it is and is the tenant's own."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import CustomField, User
from tests.conftest import make_tenant, make_user
from tests.web.api.conftest import ApiClient, issue_token
from tests.web.api.test_api_end_to_end import poll, upload
from tests.web.test_wizard import draft_of
from tests.web.test_wizard import upload as wizard_upload

# A German Excel export: semicolons, Windows-1252, an empty column.
GERMAN = (
    "Vorname;Nachname;E-Mail-Adresse;Firma;Stadt;Notizen;Handy\r\n"
    "Jürgen;Müller;juergen@example.com;Bäckerei Müller;München;;+49 89 1234567\r\n"
    "Anna;Schmidt;anna@example.com;;Köln;;+49 221 7654321\r\n"
).encode("cp1252")
HEADERS = ["Vorname", "Nachname", "E-Mail-Adresse", "Firma", "Stadt", "Notizen", "Handy"]
SUGGESTED = {
    "Vorname": "first_name",
    "Nachname": "last_name",
    "E-Mail-Adresse": "email",
    "Firma": "company",
    "Stadt": "city:text",
    "Notizen": "ignore",
    "Handy": "phone",
}


def reasons(answer: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(s["header"], s["target"], s["reason"]) for s in answer["suggestions"]]


def test_the_upload_answer_shows_what_was_detected_and_the_suggested_mapping_with_reasons(
    api: ApiClient,
) -> None:
    answer = upload(api, GERMAN, "kontakte.csv")
    assert answer["fileType"] == "csv" and answer["fileUrl"].startswith("upload://")
    assert answer["detected"] == {
        "fileType": "csv",
        "encoding": "cp1252",
        "delimiter": ";",
        "sheet": None,
        "sheets": [],
        "headers": HEADERS,
        "rowEstimate": 2,
    }
    assert answer["suggestedMapping"] == SUGGESTED
    assert reasons(answer) == [
        ("Vorname", "first_name", "alias"),
        ("Nachname", "last_name", "alias"),
        ("E-Mail-Adresse", "email", "alias"),
        ("Firma", "company", "alias"),
        ("Stadt", "city:text", "common"),
        ("Notizen", "ignore", "empty"),
        ("Handy", "phone", "alias"),
    ]
    details = {s["header"]: s["detail"] for s in answer["suggestions"]}
    assert details["Vorname"] == "Known spelling, German ('Vorname')"
    assert details["Stadt"] == (
        "A common column ('Stadt' in German): a new custom field 'city' (text)"
    )
    assert details["Notizen"] == "Empty in the first 2 rows: nothing to import from this column"


def test_a_column_is_suggested_by_its_values_whatever_its_header(api: ApiClient) -> None:
    answer = upload(api, b"Kontakt,Wer\nann@example.com,Ann\nbob@example.com,Bob\n", "a.csv")
    assert answer["suggestedMapping"] == {"Kontakt": "email", "Wer": "ignore"}
    assert reasons(answer) == [("Kontakt", "email", "values"), ("Wer", "ignore", "none")]
    assert answer["suggestions"][0]["detail"] == "2 of 2 sampled values are email addresses"
    # the API's way to leave a column out is the target "ignore", not the wizard's button
    assert answer["suggestions"][1]["detail"] == (
        'No field looks like this column: pick one or leave it as "ignore"'
    )


def test_the_suggested_mapping_used_as_it_is_imports_the_file(
    api: ApiClient, run_jobs: Callable[[], None]
) -> None:
    answer = upload(api, GERMAN, "kontakte.csv")
    started = api.post(
        "/api/contacts/import",
        json={"fileUrl": answer["fileUrl"], "fieldMapping": answer["suggestedMapping"]},
    )
    assert started.status_code == 202, started.get_json()
    job = poll(api, started.headers["Location"], run_jobs, lambda j: j["status"] == "completed")
    assert (job["created"], job["errorCount"]) == (2, 0)
    assert job["fieldMapping"] == SUGGESTED
    juergen = api.get("/api/contacts?email=juergen@example.com").get_json()["items"][0]
    assert (juergen["firstName"], juergen["lastName"]) == ("Jürgen", "Müller")
    assert juergen["company"] == "Bäckerei Müller"
    assert juergen["customFields"] == {"city": "München"}
    assert juergen["phone"] and juergen["phone"].replace(" ", "").endswith("891234567")
    city = db.session.query(CustomField).filter_by(key="city").one()
    assert city.field_type == "text"

    # the next upload of such a file uses the field that import created, and what was chosen
    again = upload(api, GERMAN, "kontakte.csv")
    assert again["suggestedMapping"] == {**SUGGESTED, "Stadt": "custom:city"}
    assert {s["reason"] for s in again["suggestions"] if s["header"] != "Notizen"} == {"remembered"}


def test_another_tenants_custom_fields_and_mappings_never_show_in_the_suggestions(
    app: Flask, api: ApiClient
) -> None:
    globex = make_tenant("Globex")
    db.session.add(
        CustomField(tenant_id=globex.id, key="city", label="Globex City", field_type="text")
    )
    db.session.commit()
    theirs = ApiClient(
        app.test_client(use_cookies=False), issue_token(make_user(globex, "ops@globex.test"))
    )
    odd_mapping = {
        **SUGGESTED,
        "Vorname": "last_name",
        "Nachname": "ignore",
        "Stadt": "custom:city",
    }
    their_file = upload(theirs, GERMAN, "kontakte.csv")
    started = theirs.post(
        "/api/contacts/import",
        json={"fileUrl": their_file["fileUrl"], "fieldMapping": odd_mapping},
    )
    assert started.status_code == 202, started.get_json()
    assert reasons(upload(theirs, GERMAN))[0] == ("Vorname", "last_name", "remembered")

    answer = upload(api, GERMAN, "kontakte.csv")
    assert answer["suggestedMapping"] == SUGGESTED
    assert "remembered" not in {s["reason"] for s in answer["suggestions"]}
    assert "Globex" not in str(answer)


def test_the_upload_suggests_what_the_wizard_suggests(
    api: ApiClient, client: FlaskClient, signed_in: User
) -> None:
    answer = upload(api, GERMAN, "kontakte.csv")
    draft = draft_of(wizard_upload(client, GERMAN, "kontakte.csv"))
    assert draft.field_mapping == answer["suggestedMapping"]
    why = draft.import_options["wizard"]["suggestions"]
    assert {h: (w["reason"], w["detail"]) for h, w in why.items()} == {
        s["header"]: (s["reason"], s["detail"]) for s in answer["suggestions"]
    }


def test_files_that_cannot_be_read_are_refused_as_the_wizard_refuses_them(
    app: Flask, api: ApiClient
) -> None:
    refused = {
        "header only": (b"Email,Name\n", "no rows below them"),
        "binary": (b"\x00\x01\x02\x03binary\x00" * 50, "binary data"),
        "empty": (b"", "The file is empty"),
    }
    for name, (content, sentence) in refused.items():
        response = api.post(
            "/api/uploads",
            data={"file": (io.BytesIO(content), "contacts.csv")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 422, name
        body = response.get_json()
        assert sentence in body["error"], (name, body)
        assert [d["field"] for d in body["details"]] == ["file"]
    storage_root = app.extensions["storage"].root
    assert not [p for p in storage_root.rglob("*") if p.is_file()]
