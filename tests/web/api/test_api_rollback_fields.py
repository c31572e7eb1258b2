"""The API's `rollback` keeps the camelCase fields it had when the service stored them itself:
once completed with a contact kept, and once failed with its error."""

from __future__ import annotations

import json
from collections.abc import Callable

from flask import Flask
from sqlalchemy import update

from app.extensions import db
from app.imports.rollback_job import mark_rollback_failed
from app.models import Contact
from tests.imports.conftest import csv_bytes
from tests.web.api.conftest import ApiClient
from tests.web.api.test_api_end_to_end import import_file, poll

FILE = csv_bytes([["Email", "Name"], ["ann@example.com", "Ann"], ["bob@example.com", "Bob"]])
MAPPING = json.dumps({"Email": "email", "Name": "first_name"})


def _imported(api: ApiClient, run_jobs: Callable[[], None]) -> str:
    response = import_file(api, FILE, "people.csv", MAPPING)
    assert response.status_code == 202, response.get_json()
    location = response.headers["Location"]
    poll(api, location, run_jobs, lambda j: j["status"] == "completed")
    return str(location)


def test_a_completed_rollback_has_the_fields_and_names_it_always_had(
    app: Flask, api: ApiClient, run_jobs: Callable[[], None]
) -> None:
    location = _imported(api, run_jobs)
    db.session.execute(
        update(Contact).where(Contact.email_normalized == "ann@example.com").values(first_name="A")
    )
    db.session.commit()
    assert api.post(f"{location}/rollback").status_code == 202
    job = poll(api, location, run_jobs, lambda j: j["status"] == "rolled_back")
    assert job["rollback"] == {
        "status": "completed",
        "force": False,
        "total": 2,
        "processed": 2,
        "deleted": 1,
        "restored": 0,
        "unlinked": 0,
        "kept": 1,
        "error": None,
    }


def test_a_failed_rollback_has_its_error_and_no_counts(
    app: Flask, api: ApiClient, run_jobs: Callable[[], None]
) -> None:
    location = _imported(api, run_jobs)
    assert api.post(f"{location}/rollback").status_code == 202
    mark_rollback_failed(location.rsplit("/", 1)[-1], "The worker stopped.")
    assert api.get(location).get_json()["rollback"] == {
        "status": "failed",
        "force": False,
        "total": 2,
        "processed": 0,
        "deleted": 0,
        "restored": 0,
        "unlinked": 0,
        "kept": 0,
        "error": "The worker stopped.",
    }
