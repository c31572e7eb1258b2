"""The review step: refused rows corrected in the browser before the import starts."""

from __future__ import annotations

import csv
import io
import re
import uuid

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.imports.refused_rows import problem_key
from app.models import Contact, Correction, ImportJob, Tenant, User
from tests.conftest import csrf_token
from tests.imports.conftest import csv_bytes, snapshot
from tests.web.test_wizard import draft_of, options_form, post, through_mapping, upload, work

pytestmark = pytest.mark.both_databases

FILE = csv_bytes(
    [
        ["Email", "First Name", "Phone"],
        ["ann@example.com", "Ann", "+44 20 7946 0958"],  # row 2
        ["bob-at-example.com", "<b>Bob</b>", "+44 20 7946 0959"],  # 3: invalid email
        ["cy@example.com", "Cy", "12"],  # 4: invalid phone
        ["di@example.com", "Di", "nonsense"],  # 5: invalid phone
    ]
)
PHONE = problem_key("Phone", "invalid")


def checked_draft(client: FlaskClient, content: bytes = FILE) -> ImportJob:
    """A draft mapped, with phone checks on, and its dry run finished."""
    job = draft_of(upload(client, content))
    assert through_mapping(client, job).status_code == 303
    form = options_form(validate_phone="y", default_region="GB")
    assert (
        post(client, f"/imports/{job.id}/options", {**form, "action": "continue"}).status_code
        == 303
    )
    work()
    db.session.expire_all()
    assert job.dry_run_status == "completed", job.dry_run
    return job


def save_row(client: FlaskClient, job: ImportJob, number: int, **fields: str) -> str:
    token = csrf_token(client, f"/imports/{job.id}/review")
    response = client.post(
        f"/imports/{job.id}/review/row",
        data={"csrf_token": token, "row": str(number), **fields},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_refused_rows_are_listed_with_each_message_tied_to_its_cell(
    client: FlaskClient, signed_in: User
) -> None:
    job = checked_draft(client)
    confirm = client.get(f"/imports/{job.id}/confirm").get_data(as_text=True)
    assert 'id="fix-refused-rows"' in confirm and "Fix the 3 rows here" in confirm
    page = client.get(f"/imports/{job.id}/review").get_data(as_text=True)
    assert [int(n) for n in re.findall(r'id="review-row-(\d+)"', page)] == [3, 4, 5]
    cell = re.search(r'<input type="text" value="[^"]*" id="cell-3-0"[^>]*>', page)
    assert cell and 'aria-invalid="true"' in cell.group(0)
    assert 'aria-describedby="msg-3-0"' in cell.group(0)
    assert re.search(
        r'<small id="msg-3-0" class="review-message">[^<]*not a valid email', page, re.I
    )
    assert 'for="cell-3-0"' in page  # a label for the screen reader: column and row
    assert "&lt;b&gt;Bob&lt;/b&gt;" in page and "<b>Bob</b>" not in page  # escaped
    assert "Invalid phone numbers in “Phone” (2 found, 2 left)" in page

    only_phones = client.get(f"/imports/{job.id}/review", query_string={"problem": PHONE})
    numbers = re.findall(r'id="review-row-(\d+)"', only_phones.get_data(as_text=True))
    assert numbers == ["4", "5"]


def test_a_page_of_rows_is_corrected_without_javascript_and_imported(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    job = checked_draft(client)
    form = {
        "rows": ["3", "4", "5"],
        "cell-3-0": "bob@example.com",
        "cell-3-1": "<b>Bob</b>",
        "cell-3-2": "+44 20 7946 0959",
        "cell-4-0": "cy@example.com",
        "cell-4-1": "Cy",
        "cell-4-2": "020 7946 0960",
        "cell-5-0": "di@example.com",
        "cell-5-1": "Di",
        "cell-5-2": "nonsense",
        "skip-5": "1",
    }
    response = post(client, f"/imports/{job.id}/review", form)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 of the 3 rows on this page would now be imported" in page
    assert page.count(">Fixed<") == 2 and page.count(">Skipped<") == 1
    assert "Imported as +442079460960" in page
    totals = re.sub(r"\s+", " ", re.search(r'id="review-totals">(.*?)</p>', page, re.S).group(1))
    assert (
        "<strong>0</strong> rows still refused" in totals and "<strong>1</strong> skipped" in totals
    )
    # only changed cells are stored
    stored = db.session.execute(
        select(Correction.row_number, Correction.column_index, Correction.value).order_by(
            Correction.row_number, Correction.column_index
        )
    ).all()
    assert stored == [(3, 0, "bob@example.com"), (4, 2, "020 7946 0960"), (5, -1, "")]

    confirm = client.get(f"/imports/{job.id}/confirm").get_data(as_text=True)
    assert 'id="corrected-since"' in confirm  # the counts are out of date: check again
    token = csrf_token(client, f"/imports/{job.id}/confirm")
    client.post(f"/imports/{job.id}/dry-run", data={"csrf_token": token})
    work()
    confirm = client.get(f"/imports/{job.id}/confirm").get_data(as_text=True)
    assert re.search(r'id="would-create">3<', confirm) and re.search(r'id="would-fail">0<', confirm)
    assert "2 rows corrected in the browser, 1 skipped" in confirm

    assert post(client, f"/imports/{job.id}/start", {}).status_code == 303
    work()
    db.session.expire_all()
    assert (job.status, job.created_count, job.error_count) == ("completed", 3, 0)
    assert (job.corrected_rows, job.review_skipped_rows) == (2, 1)
    assert snapshot(tenant.id)["cy@example.com"]["phone"] == "+442079460960"
    for url in (f"/imports/{job.id}", f"/history/imports/{job.id}"):
        text = client.get(url).get_data(as_text=True)
        assert "2 rows corrected in the browser, 1 skipped there" in text, url
    assert "2 rows corrected in the browser" in client.get("/history").get_data(as_text=True)


def test_a_cell_saved_by_htmx_comes_back_validated(client: FlaskClient, signed_in: User) -> None:
    job = checked_draft(client)
    row = save_row(client, job, 4, **{"cell-4-0": "cy@example.com", "cell-4-2": "still bad"})
    assert row.startswith('<tr id="review-row-4"') or '<tr id="review-row-4"' in row
    assert "not a valid phone number" in row and ">Refused<" in row
    row = save_row(client, job, 4, **{"cell-4-0": "cy@example.com", "cell-4-2": "07911 123456"})
    assert ">Fixed<" in row and "Imported as +447911123456" in row
    row = save_row(client, job, 5, **{"skip-5": "1"})
    assert ">Skipped<" in row
    row = save_row(client, job, 5, **{"cell-5-2": "nonsense"})  # unticked: refused again
    assert ">Refused<" in row
    # a row that is not in the review cannot be corrected
    token = csrf_token(client, f"/imports/{job.id}/review")
    response = client.post(
        f"/imports/{job.id}/review/row",
        data={"csrf_token": token, "row": "2", "cell-2-0": "x"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 404


def test_bulk_fixes_from_the_page(client: FlaskClient, signed_in: User) -> None:
    job = checked_draft(client)
    url = f"/imports/{job.id}/review"
    response = post(
        client, f"{url}/bulk", {"action": "set", "bulk_problem": PHONE, "value": "+44 20 7946 0000"}
    )
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Invalid phone numbers in “Phone”: 2 cells set to “+44 20 7946 0000”." in page
    assert page.count(">Fixed<") == 2
    response = post(
        client, f"{url}/bulk", {"action": "country", "bulk_problem": PHONE, "region": "US"}
    )
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "0 cells read as numbers of United States (US) and fixed." in page  # all fixed already
    response = post(client, f"{url}/bulk", {"action": "lower", "column": "1"})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "“First Name”: 3 cells changed to lower case." in page
    assert 'value="&lt;b&gt;bob&lt;/b&gt;"' in page
    response = post(client, f"{url}/bulk", {"action": "set", "bulk_problem": PHONE, "value": " "})
    assert "Type the value" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert post(client, f"{url}/bulk", {"action": "nothing"}).status_code == 400


def test_the_review_needs_a_finished_check_and_a_draft(
    client: FlaskClient, signed_in: User
) -> None:
    job = draft_of(upload(client, FILE))
    response = client.get(f"/imports/{job.id}/review")
    assert response.status_code == 303 and response.headers["Location"].endswith("/confirm")
    job = checked_draft(client)
    assert post(client, f"/imports/{job.id}/start", {}).status_code == 303
    response = client.get(f"/imports/{job.id}/review")
    assert response.status_code == 303 and response.headers["Location"].endswith(
        f"/imports/{job.id}"
    )
    response = post(client, f"/imports/{job.id}/review/bulk", {"action": "lower", "column": "1"})
    assert response.status_code == 303  # refused: the import has started
    assert db.session.scalar(select(func.count()).select_from(Correction)) == 0


def test_the_error_file_applies_corrections_and_neutralizes_formulas(
    client: FlaskClient, signed_in: User
) -> None:
    job = checked_draft(client)
    save_row(client, job, 4, **{"cell-4-2": '=HYPERLINK("http://x")'})  # still not a phone
    save_row(client, job, 5, **{"skip-5": "1"})
    save_row(client, job, 3, **{"cell-3-0": "bob@example.com"})
    response = client.get(f"/imports/{job.id}/dry-run/errors.csv")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [r[3] for r in rows[1:]] == ["4"]  # 3 fixed, 5 skipped
    assert rows[1][2] == '\'=HYPERLINK("http://x")'
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0


def test_a_finished_imports_refused_rows_are_fixed_and_imported_as_a_follow_up(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    first = checked_draft(client)
    assert post(client, f"/imports/{first.id}/start", {}).status_code == 303
    work()
    page = client.get(f"/imports/{first.id}").get_data(as_text=True)
    assert 'id="fix-refused"' in page and "Fix the 3 refused rows" in page
    token = csrf_token(client, f"/history/imports/{first.id}")
    response = client.post(f"/imports/{first.id}/follow-up", data={"csrf_token": token})
    assert response.status_code == 303
    review_url = response.headers["Location"]
    draft_id = review_url.split("/imports/")[1].split("/")[0]
    draft = db.session.get(ImportJob, uuid.UUID(draft_id))
    assert draft is not None and draft.follow_up_of == first.id
    page = client.get(review_url).get_data(as_text=True)
    assert "Fix the rows the import of leads.csv refused" in page
    assert [int(n) for n in re.findall(r'id="review-row-(\d+)"', page)] == [3, 4, 5]
    assert "Refused rows of <strong>leads.csv</strong>" in client.get("/").get_data(as_text=True)
    # the other steps of a follow-up lead back to its review
    response = client.get(f"/imports/{draft.id}/mapping")
    assert response.status_code == 303 and response.headers["Location"].endswith("/review")
    # nothing corrected yet: nothing to import
    token = csrf_token(client, review_url)
    response = client.post(f"/imports/{draft.id}/review/start", data={"csrf_token": token})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Correct at least one row first" in page

    save_row(client, draft, 4, **{"cell-4-2": "020 7946 0960"})
    page = client.get(review_url).get_data(as_text=True)
    assert "Import the corrected row" in page
    token = csrf_token(client, review_url)
    response = client.post(f"/imports/{draft.id}/review/start", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"].endswith(
        f"/imports/{draft.id}"
    )
    work()
    db.session.expire_all()
    assert (draft.status, draft.created_count, draft.error_count) == ("completed", 1, 0)
    done = client.get(f"/imports/{draft.id}").get_data(as_text=True)
    assert re.search(r'id="summary">1 of 1 corrected row went in', done)
    assert snapshot(tenant.id)["cy@example.com"]["phone"] == "+442079460960"
    # linked both ways
    original = client.get(f"/history/imports/{first.id}").get_data(as_text=True)
    assert f'href="/history/imports/{draft.id}"' in original and "a follow-up import" in original
    assert 'id="fix-refused"' not in original
    listed = client.get("/history").get_data(as_text=True)
    assert (
        "Follow-up import" in listed
        and f'href="/history/imports/{first.id}">its first import' in listed
    )
    follow = client.get(f"/history/imports/{draft.id}").get_data(as_text=True)
    assert (
        f'href="/history/imports/{first.id}"' in follow
        and "refused, corrected in the browser" in follow
    )


def test_reading_the_file_differently_drops_the_corrections_and_says_so(
    client: FlaskClient, signed_in: User
) -> None:
    job = checked_draft(client)
    save_row(client, job, 4, **{"cell-4-2": "020 7946 0960"})
    save_row(client, job, 5, **{"skip-5": "1"})
    assert db.session.scalar(select(func.count()).select_from(Correction)) == 2
    response = post(
        client,
        f"/imports/{job.id}/file",
        {"file_type": "csv", "encoding": "utf-8", "delimiter": ";", "action": "reread"},
    )
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "the 2 corrections made in the review named rows and cells" in page
    assert db.session.scalar(select(func.count()).select_from(Correction)) == 0


def test_a_saved_page_stores_only_the_cells_the_person_changed(
    client: FlaskClient, signed_in: User
) -> None:
    """A text box drops line breaks, and another tab may have corrected a cell since the page
    was shown: cells posted as they were shown are left alone."""
    job = checked_draft(client)
    save_row(client, job, 4, **{"cell-4-2": "020 7946 0960"})  # "another tab"
    form = {
        "rows": ["3", "4"],
        "cell-3-0": "bob@example.com",
        "was-3-0": "bob-at-example.com",
        "cell-3-1": "Bob",  # shown "<b>Bob</b>", changed: stored
        "was-3-1": "<b>Bob</b>",
        "cell-4-2": "12",  # the page was shown before the other tab's correction
        "was-4-2": "12",
        "cell-4-1": "Cy",
        "was-4-1": "Cy",
    }
    assert post(client, f"/imports/{job.id}/review", form).status_code == 303
    stored = db.session.execute(
        select(Correction.row_number, Correction.column_index, Correction.value).order_by(
            Correction.row_number, Correction.column_index
        )
    ).all()
    assert stored == [(3, 0, "bob@example.com"), (3, 1, "Bob"), (4, 2, "020 7946 0960")]


def test_each_row_tells_a_screen_reader_what_became_of_it(
    client: FlaskClient, signed_in: User
) -> None:
    job = checked_draft(client)
    page = client.get(f"/imports/{job.id}/review").get_data(as_text=True)
    assert re.search(r'Skip<span class="visually-hidden"> row 4</span>', page)
    assert '<p id="review-announce" class="visually-hidden" role="status"></p>' in page
    row = save_row(client, job, 4, **{"cell-4-2": "020 7946 0960"})
    assert re.search(r'<p id="review-announce"[^>]*hx-swap-oob="true">Row 4: fixed</p>', row)
    row = save_row(client, job, 5, **{"cell-5-2": "still nonsense"})
    assert re.search(r'id="review-announce"[^>]*>Row 5: still refused: [^<]*not a valid phone', row)
