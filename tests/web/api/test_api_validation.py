"""Bad input gets 400/415/422 with `{"error", "details"}` naming the field, and starts nothing."""

from __future__ import annotations

import base64
import io
import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models import ExportJob, ImportJob
from tests.conftest import make_tenant, make_user
from tests.web.api.conftest import ApiClient, issue_token
from tests.web.api.test_api_end_to_end import import_file, upload

GOOD_MAPPING = {"Email": "email", "First Name": "first_name"}


def _jobs() -> int:
    return (db.session.scalar(select(func.count(ImportJob.id))) or 0) + (
        db.session.scalar(select(func.count(ExportJob.id))) or 0
    )


def _fields(body: dict[str, Any]) -> list[str]:
    return [d["field"] for d in body["details"]]


@pytest.fixture
def file_url(api: ApiClient) -> str:
    return upload(api)["fileUrl"]


def _import(api: ApiClient, file_url: str, **changes: Any) -> Any:
    body: dict[str, Any] = {"fileUrl": file_url, "fieldMapping": GOOD_MAPPING}
    body.update(changes)
    return api.post("/api/contacts/import", json=body)


def test_malformed_json_is_a_400_naming_the_body(api: ApiClient) -> None:
    response = api.post(
        "/api/contacts/import", data='{"fileUrl": "x", ', content_type="application/json"
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.get_json()["error"]
    assert _fields(response.get_json()) == ["body"]
    assert _jobs() == 0


def test_a_body_that_is_not_an_object_is_refused(api: ApiClient) -> None:
    response = api.post("/api/contacts/import", json=[1, 2])
    assert response.status_code == 422
    assert _fields(response.get_json()) == ["body"]


def test_unknown_duplicate_strategy_names_the_option(api: ApiClient, file_url: str) -> None:
    response = _import(api, file_url, options={"duplicateStrategy": "merge"})
    assert response.status_code == 422
    body = response.get_json()
    assert _fields(body) == ["options.duplicateStrategy"]
    assert "'skip', 'update' or 'create'" in body["details"][0]["message"]
    assert _jobs() == 0


def test_a_mapping_without_email_is_refused(api: ApiClient, file_url: str) -> None:
    response = _import(api, file_url, fieldMapping={"First Name": "first_name"})
    assert response.status_code == 422
    body = response.get_json()
    assert _fields(body) == ["fieldMapping"]
    assert "Map a column to Email" in body["details"][0]["message"]
    assert "'Email'" in body["error"]  # the file's columns are listed
    assert _jobs() == 0


def test_two_columns_on_one_field_are_named_in_the_api_s_words(
    api: ApiClient, file_url: str
) -> None:
    response = _import(api, file_url, fieldMapping={"Email": "email", "Company": "email"})
    assert response.status_code == 422
    message = response.get_json()["details"][0]["message"]
    assert message.endswith('keep one and map the other to "ignore".'), message
    assert "Don't import" not in message


def test_unknown_fields_in_the_body_and_in_the_mapping_are_named(
    api: ApiClient, file_url: str
) -> None:
    extra = _import(api, file_url, options={"colour": "blue"})
    assert extra.status_code == 422
    assert _fields(extra.get_json()) == ["options.colour"]
    assert "Unknown field" in extra.get_json()["details"][0]["message"]

    target = _import(api, file_url, fieldMapping={"Email": "emial"})
    assert target.status_code == 422
    assert _fields(target.get_json()) == ["fieldMapping.Email"]
    assert "'emial' is not one of your fields" in target.get_json()["details"][0]["message"]

    column = _import(api, file_url, fieldMapping={"Mail": "email"})
    assert column.status_code == 422
    assert "'Mail' is not a column in this file" in column.get_json()["details"][0]["message"]
    assert _jobs() == 0


def test_wrong_types_are_refused_not_coerced(api: ApiClient, file_url: str) -> None:
    response = _import(
        api,
        file_url,
        options={"validateEmail": "yes", "tags": "vip", "defaultPhoneRegion": "XX"},
    )
    assert response.status_code == 422
    assert sorted(_fields(response.get_json())) == [
        "options.defaultPhoneRegion",
        "options.tags",
        "options.validateEmail",
    ]
    number = api.post("/api/contacts/import", json={"fileUrl": 5, "fieldMapping": GOOD_MAPPING})
    assert _fields(number.get_json()) == ["fileUrl"]
    assert _jobs() == 0


def test_a_file_url_of_nobody_or_of_another_tenant_is_the_same_422(
    app: Flask, api: ApiClient, file_url: str
) -> None:
    other = ApiClient(app.test_client(), issue_token(make_user(make_tenant("Globex"))))
    theirs = upload(other)["fileUrl"]
    foreign = _import(api, theirs)
    made_up = _import(api, "upload://2026/01/" + uuid.uuid4().hex + ".csv")
    garbage = _import(api, "../../etc/passwd")
    for response in (foreign, made_up, garbage):
        assert response.status_code == 422
        assert response.get_json() == foreign.get_json()
        assert _fields(response.get_json()) == ["fileUrl"]
    assert _jobs() == 0


def test_refused_files_are_named(api: ApiClient) -> None:
    empty = api.post(
        "/api/uploads",
        data={"file": (io.BytesIO(b""), "empty.csv")},
        content_type="multipart/form-data",
    )
    assert empty.status_code == 422
    assert _fields(empty.get_json()) == ["file"]
    assert "empty" in empty.get_json()["error"]
    missing = api.post("/api/uploads", data={"other": "x"}, content_type="multipart/form-data")
    assert missing.status_code == 422 and _fields(missing.get_json()) == ["file"]


def test_an_import_refused_after_its_upload_leaves_no_file_behind(
    app: Flask, api: ApiClient
) -> None:
    response = import_file(api, b"Email\na@example.com\n", "a.csv", '{"Name": "first_name"}')
    assert response.status_code == 422
    storage_root = app.extensions["storage"].root
    assert not [p for p in storage_root.rglob("*") if p.is_file()]
    bad_json = import_file(api, b"Email\na@example.com\n", "a.csv", "{")
    assert bad_json.status_code == 400 and _fields(bad_json.get_json()) == ["fieldMapping"]


def test_other_content_types_are_a_415(api: ApiClient) -> None:
    for path in ("/api/contacts/import", "/api/uploads", "/api/contacts/export"):
        response = api.post(path, data="a=b", content_type="text/plain")
        assert response.status_code == 415, path
        assert response.get_json()["details"] == []


def test_a_body_over_the_upload_limit_is_a_413(app: Flask, api: ApiClient) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = api.post(
        "/api/uploads",
        data={"file": (io.BytesIO(b"Email\n" + b"a@example.com\n" * 200), "big.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == (
        "The request is larger than the upload limit of 1000 bytes: split the file."
    )


def test_export_options_are_checked_field_by_field(api: ApiClient) -> None:
    cases = {
        "format": {"format": "pdf"},
        "selectedFields[1]": {"selectedFields": ["email", "shoe_size"]},
        "segmentId": {"segmentId": str(uuid.uuid4())},
        "filters.createdFrom": {"filters": {"createdFrom": "yesterday"}},
        "filters.conditions[0].field": {"filters": {"conditions": [{"field": "x", "op": "empty"}]}},
        "filters.conditions[0].value": {
            "filters": {"conditions": [{"field": "company", "op": "equals"}]}
        },
        "filters.minOpened": {"filters": {"minOpened": -1}},
        "includeCustomFields": {"includeCustomFields": 1},
    }
    for field, body in cases.items():
        response = api.post("/api/contacts/export", json=body)
        assert response.status_code == 422, (field, response.get_json())
        assert _fields(response.get_json()) == [field], response.get_json()
    reversed_dates = api.post(
        "/api/contacts/export",
        json={"filters": {"createdFrom": "2026-02-01", "createdTo": "2026-01-01"}},
    )
    assert reversed_dates.status_code == 422
    assert (
        "createdTo is before its start date" in reversed_dates.get_json()["details"][0]["message"]
    )
    assert _jobs() == 0


def test_bad_query_parameters_and_headers_are_400s(api: ApiClient, file_url: str) -> None:
    assert _fields(api.get("/api/contacts?limit=0").get_json()) == ["limit"]
    assert _fields(api.get("/api/contacts/imports?limit=abc").get_json()) == ["limit"]
    for digits in ("%C2%B2", "%D9%A3", "%EF%BC%95"):  # ², Arabic-Indic 3, fullwidth 5
        answer = api.get(f"/api/contacts/exports?limit={digits}")
        assert (answer.status_code, _fields(answer.get_json())) == (400, ["limit"])
    assert _fields(api.get("/api/contacts/exports?cursor=not-a-cursor").get_json()) == ["cursor"]
    assert _fields(api.get("/api/contacts?segmentId=42").get_json()) == ["segmentId"]
    long_key = api.post(
        "/api/contacts/import",
        json={"fileUrl": file_url, "fieldMapping": GOOD_MAPPING},
        headers={"Idempotency-Key": "x" * 300},
    )
    assert long_key.status_code == 400
    assert _fields(long_key.get_json()) == ["Idempotency-Key"]
    assert _jobs() == 0


def test_unknown_urls_and_methods_answer_json(api: ApiClient, client: Any) -> None:
    missing = client.get("/api/nothing-here", headers={"Authorization": f"Bearer {api.token}"})
    assert missing.status_code == 404
    assert missing.get_json() == {"error": missing.get_json()["error"], "details": []}
    wrong = client.delete("/api/contacts", headers={"Authorization": f"Bearer {api.token}"})
    assert wrong.status_code == 405
    assert wrong.get_json()["details"] == []
    assert "GET" in wrong.headers["Allow"]


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "text",
    ["[" * 1000 + "]" * 1000, '{"a":' * 1000 + "1" + "}" * 1000],
    ids=["lists", "objects"],
)
def test_a_cursor_of_json_nested_1000_deep_is_a_400_naming_the_cursor(
    api: ApiClient, text: str
) -> None:
    response = api.get(f"/api/contacts?cursor={_cursor(text)}")

    assert response.status_code == 400
    assert _fields(response.get_json()) == ["cursor"]
