"""The API's error objects number a JSON file's rows as its messages do: by line or by record."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from tests.web.api.conftest import ApiClient
from tests.web.api.test_api_end_to_end import fetch, import_file, poll

MAPPING = '{"email": "email", "first": "first_name"}'
NDJSON = b'{"email": "ann@example.com"}\n\n{"email": "bad"}\n{"first": "NoEmail"}\n'
ARRAY = b'[{"email": "ann@example.com"}, {"email": "bad"}, {"first": "NoEmail"}]'


@pytest.mark.parametrize(
    ("name", "content", "label", "numbers"),
    [("people.ndjson", NDJSON, "Line", [3, 4]), ("people.json", ARRAY, "Record", [2, 3])],
)
def test_json_errors_carry_the_line_or_record_their_message_names(
    app: Flask,
    api: ApiClient,
    run_jobs: Callable[[], None],
    name: str,
    content: bytes,
    label: str,
    numbers: list[int],
) -> None:
    started = import_file(api, content, name, MAPPING)
    assert started.status_code == 202, started.get_json()
    job = poll(api, started.headers["Location"], run_jobs, lambda j: j["status"] == "completed")

    assert [e["row"] for e in job["errors"]] == numbers
    assert job["errors"][1]["message"] == (
        f"{label} {numbers[1]} has no email address in column 'email': "
        f"add one or remove the {label.lower()}."
    )
    report = fetch(app, job["errorReportUrl"], api.token).decode("utf-8-sig").splitlines()
    assert report[0] == f"email,first,{label.lower()},error"
    assert [line.split(",")[2] for line in report[1:]] == [str(n) for n in numbers]
