"""Refused rows through the API: listed with their cells, corrected, imported as a follow-up;
and the same for a dry run. Every answer is checked against the OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Callable

from flask import Flask

from app.extensions import db
from app.models import User
from tests.conftest import make_tenant, make_user
from tests.imports.conftest import csv_bytes, snapshot
from tests.web.api.conftest import ApiClient, issue_token
from tests.web.api.test_api_end_to_end import import_file, poll

FILE = csv_bytes(
    [
        ["Email", "Name", "Phone"],
        ["ann@example.com", "Ann", "+44 20 7946 0958"],  # row 2
        ["bob-at-example.com", "Bob", ""],  # 3: invalid email
        ["cy@example.com", "Cy", "12"],  # 4: invalid phone
        ["<script>@x", "Di", ""],  # 5: invalid email
    ]
)
MAPPING = json.dumps({"Email": "email", "Name": "first_name", "Phone": "phone"})
OPTIONS = json.dumps({"validatePhone": True, "defaultPhoneRegion": "GB"})


def finished_import(api: ApiClient, run_jobs: Callable[[], None], options: str = OPTIONS) -> dict:
    response = import_file(api, FILE, "people.csv", MAPPING, options)
    assert response.status_code == 202, response.get_json()
    return poll(
        api,
        response.headers["Location"],
        run_jobs,
        lambda j: (
            j["status"] in ("completed", "draft")
            and (j["status"] == "completed" or (j["dryRun"] or {}).get("status") == "completed")
        ),
    )


def test_refused_rows_are_listed_corrected_and_imported_as_a_follow_up(
    app: Flask, api: ApiClient, run_jobs: Callable[[], None], user: User
) -> None:
    job = finished_import(api, run_jobs)
    assert job["errorCount"] == 3
    url = f"/api/contacts/import/{job['jobId']}"
    page = api.get(f"{url}/errors?limit=2").get_json()
    assert [r["rowNumber"] for r in page["items"]] == [3, 4]
    assert page["items"][0]["cells"] == {"Email": "bob-at-example.com", "Name": "Bob", "Phone": ""}
    assert "not a valid email" in page["items"][0]["errors"][0]["message"]
    rest = api.get(f"{url}/errors?limit=2&cursor={page['nextCursor']}").get_json()
    assert [r["rowNumber"] for r in rest["items"]] == [5] and rest["nextCursor"] is None

    # nothing corrected yet: nothing to import
    assert api.post(f"{url}/follow-up").status_code == 409
    # refused corrections make no follow-up (an empty one would wait for nothing)
    bad = api.post(f"{url}/corrections", json={"rows": [{"rowNumber": 3, "cells": {"Town": "x"}}]})
    assert bad.status_code == 422
    assert api.get(url).get_json()["followUp"] is None
    body = {
        "rows": [
            {"rowNumber": 3, "cells": {"Email": "bob@example.com"}},
            {"rowNumber": 4, "cells": {"Phone": "not yet"}},
            {"rowNumber": 5, "skip": True},
        ]
    }
    response = api.post(f"{url}/corrections", json=body)
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["followUpOf"] == job["jobId"] and result["importId"] != job["jobId"]
    assert result["correctedRows"] == 1  # row 4 is corrected but still wrong: not counted
    rows = {r["rowNumber"]: r for r in result["rows"]}
    assert rows[3]["errors"] == [] and rows[3]["corrected"] == {"Email": "bob@example.com"}
    assert "not a valid phone number" in rows[4]["errors"][0]["message"]
    assert rows[5]["skipped"] is True
    again = api.post(
        f"{url}/corrections", json={"rows": [{"rowNumber": 4, "cells": {"Phone": "020 7946 0960"}}]}
    )
    assert again.get_json()["importId"] == result["importId"]  # the same follow-up
    assert again.get_json()["rows"][0]["errors"] == []
    assert again.get_json()["correctedRows"] == 2

    # refused: a row that was not refused, a column the import does not read
    bad = api.post(f"{url}/corrections", json={"rows": [{"rowNumber": 2, "cells": {"Email": "x"}}]})
    assert bad.status_code == 422 and bad.get_json()["details"][0]["field"] == "rows[0].rowNumber"
    bad = api.post(f"{url}/corrections", json={"rows": [{"rowNumber": 3, "cells": {"Town": "x"}}]})
    assert bad.status_code == 422 and "Town" in bad.get_json()["details"][0]["message"]

    started = api.post(f"{url}/follow-up")
    assert started.status_code == 202
    follow = poll(api, started.headers["Location"], run_jobs, lambda j: j["status"] == "completed")
    assert (follow["created"], follow["errorCount"]) == (2, 0)
    assert (follow["followUpOf"], follow["correctedRows"]) == (job["jobId"], 2)
    assert api.get(url).get_json()["followUp"] == follow["jobId"]  # linked both ways
    assert api.post(f"{url}/follow-up").status_code == 409  # started already
    late = api.post(f"{url}/corrections", json={"rows": [{"rowNumber": 3, "skip": True}]})
    assert late.status_code == 409
    assert sorted(snapshot(user.tenant_id)) == [
        "ann@example.com",
        "bob@example.com",
        "cy@example.com",
    ]

    # another tenant's token gets 404 on every new endpoint
    other = ApiClient(
        app.test_client(use_cookies=False), issue_token(make_user(make_tenant("Globex")))
    )
    assert other.get(f"{url}/errors").status_code == 404
    assert other.post(f"{url}/corrections", json=body).status_code == 404
    assert other.post(f"{url}/follow-up").status_code == 404


def test_a_dry_runs_refused_rows_are_corrected_before_it_is_imported(
    api: ApiClient, run_jobs: Callable[[], None]
) -> None:
    dry = finished_import(api, run_jobs, json.dumps({**json.loads(OPTIONS), "dryRun": True}))
    url = f"/api/contacts/import/{dry['jobId']}"
    page = api.get(f"{url}/errors").get_json()
    assert [r["rowNumber"] for r in page["items"]] == [3, 4, 5]
    assert page["items"][2]["cells"]["Email"] == "<script>@x"  # JSON, as it came
    response = api.post(
        f"{url}/corrections",
        json={"rows": [{"rowNumber": 3, "cells": {"Email": "bob@example.com"}}]},
    )
    assert response.get_json()["importId"] == dry["jobId"]
    assert response.get_json()["followUpOf"] is None
    page = api.get(f"{url}/errors").get_json()
    assert page["items"][0]["errors"] == [] and page["items"][0]["corrected"] == {
        "Email": "bob@example.com"
    }
    assert api.post(f"{url}/follow-up").status_code == 409  # a dry run has no follow-up
    db.session.expire_all()
