"""Hostile uploads through the web wizard: huge bodies, dangerous names, script in cells.

Each test drives the real upload route (CSRF on) and asserts what a user would see: the status
code, the sentence on the page, the rendered HTML, the stored object and the database rows.
"""

from __future__ import annotations

import csv
import html
import io
import logging
import re
import zipfile
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.imports.options import ImportOptions
from app.imports.uploads import display_file_name
from app.models import Contact, ImportJob, Tenant, User
from tests.conftest import ROOT, csrf_token, make_env
from tests.imports.conftest import csv_bytes
from tests.imports.test_hostile_files import (
    SHEET,
    XXE,
    bomb_workbook,
    far_cell_sheet,
    workbook_members,
    workbook_with_sheet,
)
from tests.web.test_wizard import (
    draft_of,
    options_form,
    post,
    through_mapping,
    upload,
    work,
)

GIGABYTE = 1 << 30
BOUNDARY = "hostileboundary7MA4YWxkTrZu0gW"


class CountingBody(io.RawIOBase):
    """A request body of `size` bytes made on the fly, counting how much the server read.

    It is a multipart form (CSRF token, then a file part of `size` bytes of CSV), produced chunk
    by chunk: nothing of it is ever held whole in memory or written to disk by the test.
    """

    def __init__(self, token: str, size: int) -> None:
        super().__init__()
        self.head = (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="csrf_token"\r\n\r\n'
            f"{token}\r\n"
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="huge.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
            "Email\r\n"
        ).encode()
        self.size = size
        self.served = 0
        self._position = 0
        self._row = b"someone@example.com\r\n" * 3000

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Only for the test client measuring the body: reading always goes forward."""
        self._position = self.size if whence == io.SEEK_END else offset
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.served < len(self.head):
            piece = self.head[self.served : self.served + len(buffer)]
        else:
            left = self.size - self.served
            piece = self._row[: min(len(buffer), left, len(self._row))]
        buffer[: len(piece)] = piece
        self.served += len(piece)
        return len(piece)


def post_body(
    client: FlaskClient, body: CountingBody, content_length: int | None
) -> tuple[int, str]:
    """Post a streamed multipart body, with a Content-Length or chunked (no length)."""
    environ: dict[str, object] = {"CONTENT_LENGTH": str(content_length)}
    if content_length is None:  # as a server does for Transfer-Encoding: chunked
        environ = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}
    response = client.post(
        "/imports/new",
        input_stream=body,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        environ_overrides=environ,
    )
    return response.status_code, response.get_data(as_text=True)


# --- a 2 GB upload ---------------------------------------------------------------------------


def test_a_2_gb_upload_with_its_length_is_refused_before_its_body_is_read(
    client: FlaskClient, signed_in: User
) -> None:
    token = csrf_token(client, "/imports/new")
    body = CountingBody(token, 2 * GIGABYTE)

    status, page = post_body(client, body, content_length=2 * GIGABYTE)

    assert status == 413
    assert "The file is larger than the upload limit of 512 MB" in page
    assert body.served == 0  # refused on the declared length alone
    assert db.session.scalar(select(func.count(ImportJob.id))) == 0


def test_a_chunked_upload_without_a_length_is_cut_off_at_the_limit_while_streaming(
    app: Flask, client: FlaskClient, signed_in: User
) -> None:
    token = csrf_token(client, "/imports/new")
    app.config["MAX_CONTENT_LENGTH"] = 1 << 20
    body = CountingBody(token, 2 * GIGABYTE)

    status, page = post_body(client, body, content_length=None)

    assert status == 413
    assert "The file is larger than the upload limit of 1 MB" in page
    assert body.served <= (1 << 20) + (1 << 17)  # the limit plus at most one read
    assert db.session.scalar(select(func.count(ImportJob.id))) == 0


def test_the_default_upload_limit_is_the_one_the_readme_states(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = re.search(r"\| `MAX_UPLOAD_MB` \| `(\d+)` \|", readme)
    assert documented, "README's settings table lists MAX_UPLOAD_MB"
    env = make_env(
        tmp_path, "sqlite:///" + str(tmp_path / "db.sqlite"), "redis://127.0.0.1:6379/15"
    )

    app = create_app({"ENV": env})

    assert app.config["MAX_CONTENT_LENGTH"] == int(documented.group(1)) * 1024 * 1024
    assert app.config["MAX_CONTENT_LENGTH"] == 512 * 1024 * 1024


# --- dangerous file names ----------------------------------------------------------------------

HOSTILE_NAMES = {
    "posix-path": ("../../../etc/passwd/../leads.csv", "leads.csv"),
    # doubled: the multipart header quotes a backslash as two
    "windows-path": ("..\\\\..\\\\Windows\\\\System32\\\\leads.csv", "leads.csv"),
    "dot-dot": ("..", "upload"),
    "nul": ("leads\x00.exe.csv", "leads.exe.csv"),
    "control": ("lea\tds\x1b[31m\x7f.csv", "leads[31m.csv"),
    "right-to-left": ("invoice\u202ecsv.exe", "invoicecsv.exe"),
    "isolates": ("\u2067leads\u2069\u200f.csv", "leads.csv"),
    "very-long": ("a" * 5000 + ".csv", "a" * 251 + ".csv"),
    "html": ("<img src=x onerror=alert(1)>.csv", "<img src=x onerror=alert(1)>.csv"),
}


def test_hostile_file_names_are_stored_safely_and_shown_sanitized(
    app: Flask, client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    root = Path(app.config["STORAGE_LOCAL_PATH"]).resolve()
    key_pattern = rf"tenants/{tenant.id}/uploads/\d{{4}}/\d{{2}}/[0-9a-f]{{32}}(\.csv)?"
    jobs = {}
    for case, (raw, shown) in HOSTILE_NAMES.items():
        response = upload(client, f"Email\n{case}@example.com\n".encode(), raw)
        assert response.status_code == 303, (case, response.get_data(as_text=True)[:300])
        job = draft_of(response)
        assert job.file_name == shown, case
        assert re.fullmatch(key_pattern, job.file_url), case  # the user's name is never in it
        stored = (root / job.file_url).resolve()
        assert stored.is_file() and stored.is_relative_to(root / "tenants" / str(tenant.id))
        through_mapping(client, job)
        post(client, f"/imports/{job.id}/options", {**options_form(), "action": "continue"})
        post(client, f"/imports/{job.id}/start", {})
        jobs[case] = job
    work()

    db.session.expire_all()
    assert {job.status for job in jobs.values()} == {"completed"}
    assert db.session.scalar(select(func.count(Contact.id))) == len(HOSTILE_NAMES)
    pages = {url: client.get(url).get_data(as_text=True) for url in ("/history", "/")}
    for case, job in jobs.items():
        pages[f"{case} detail"] = client.get(f"/history/imports/{job.id}").get_data(as_text=True)
        pages[f"{case} job"] = client.get(f"/imports/{job.id}").get_data(as_text=True)
    for where, page in pages.items():
        for invisible in ("\x00", "\x1b", "\x7f", "\u202e", "\u2067", "\u200f"):
            assert invisible not in page, (where, invisible)
        assert "<img src=x" not in page, where
    for case, (_raw, shown) in HOSTILE_NAMES.items():
        html = shown.replace("<", "&lt;").replace(">", "&gt;")
        assert html in pages["/history"], case
        assert html in pages[f"{case} detail"] and html in pages[f"{case} job"], case


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("C:\\Users\\ann\\Desktop\\leads.csv", "leads.csv"),
        ("\\\\server\\share\\..\\leads.csv", "leads.csv"),
        ("/", "upload"),
        ("...", "upload"),
        ("\ud800leads.csv", "leads.csv"),  # a lone surrogate cannot be stored as UTF-8
        ("new\u2028line.csv", "new line.csv"),
        ("x" * 300, "x" * 255),
        ("Données clients 2024 — été.xlsx", "Données clients 2024 — été.xlsx"),
    ],
)
def test_file_names_from_any_client_are_cleaned_the_same_way(raw: str, shown: str) -> None:
    assert display_file_name(raw) == shown
    assert ImportOptions(file_name=raw, file_key="k").file_name == shown


# --- script in cells -----------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMAGE = "<img src=x onerror=alert(1)>"
SVG = '"><svg onload=alert(1)>'
PAYLOADS = (SCRIPT, IMAGE, SVG, "alert(2)</script>")
HOSTILE_CELLS = csv_bytes(
    [
        ["Email", "First", "Last", "Company", "<b>Notes</b>"],
        ["ada@example.com", SCRIPT, IMAGE, SVG, "<script>alert(3)</script>"],
        ["<script>alert(2)</script>@x", "Bad", "Row", "Nowhere", ""],
    ]
)


def assert_escaped(page: str, where: str, *values: str) -> None:
    """No payload is in the page as markup, and each of `values` is there as escaped text."""
    for payload in PAYLOADS:
        assert payload not in page, (where, payload)
    for value in values:
        escaped = str(escape(value))
        assert escaped in page, (where, escaped)


def test_script_in_cells_is_escaped_on_every_page_that_shows_it(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    job = draft_of(upload(client, HOSTILE_CELLS, "hostile.csv"))
    source = client.get(f"/imports/{job.id}/file").get_data(as_text=True)
    assert_escaped(source, "file step", SCRIPT, IMAGE, "<b>Notes</b>")
    mapping = through_mapping(client, job, First="first_name", Last="last_name")
    assert mapping.status_code == 303
    preview = client.get(f"/imports/{job.id}/mapping").get_data(as_text=True)
    assert_escaped(preview, "mapping preview", SCRIPT, IMAGE, SVG, "<b>Notes</b>")
    post(client, f"/imports/{job.id}/options", {**options_form(), "action": "continue"})
    work()  # the dry run
    review = client.get(f"/imports/{job.id}/confirm").get_data(as_text=True)
    assert_escaped(review, "review")
    dry_errors = client.get(f"/imports/{job.id}/dry-run/errors.csv")
    assert dry_errors.mimetype == "text/csv"
    assert dry_errors.headers["Content-Disposition"].startswith("attachment")
    post(client, f"/imports/{job.id}/start", {})
    work()

    db.session.expire_all()
    assert job.status == "completed" and job.created_count == 1 and job.error_count == 1
    contact = db.session.scalar(select(Contact))
    assert (contact.first_name, contact.last_name, contact.company) == (SCRIPT, IMAGE, SVG)
    progress = client.get(f"/imports/{job.id}").get_data(as_text=True)
    assert_escaped(progress, "job page", "<script>alert(2)</script>@x")
    detail = client.get(f"/history/imports/{job.id}").get_data(as_text=True)
    assert_escaped(detail, "import detail", "<script>alert(2)</script>@x", SCRIPT, IMAGE)
    assert_escaped(client.get("/history").get_data(as_text=True), "history")
    listing = client.get("/contacts/").get_data(as_text=True)
    assert_escaped(listing, "contacts list", SCRIPT, IMAGE, SVG)
    page = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert_escaped(page, "contact detail", SCRIPT, IMAGE, SVG)
    report = client.get(f"/imports/{job.id}/error-report")
    assert report.mimetype == "text/csv"
    assert report.headers["Content-Disposition"].startswith("attachment")
    assert "<script>alert(2)</script>@x" in report.get_data().decode("utf-8-sig")


# --- NUL characters typed or pasted into any form, search or address -----------------------------


def nul_requests(client: FlaskClient, job: ImportJob) -> dict[str, object]:
    """One request per kind of text input, each carrying a NUL character."""
    wizard = f"/imports/{job.id}"
    return {
        "file settings": post(client, f"{wizard}/file", {"file_type": "csv", "sheet": "a\x00"}),
        "mapping": post(client, f"{wizard}/mapping", {"map-0": "__new__", "new-name-0": "x\x00"}),
        "options": post(client, f"{wizard}/options", options_form(new_tags="vip\x00")),
        "contacts search": client.get("/contacts/?q=ada%00"),
        "contacts tag filter": client.get("/contacts/?tag=a%00b"),
        "history filter": client.get("/history?status=failed%00"),
        "export form": post(client, "/exports/new", {"fields": "email", "segment": "x\x00"}),
        "address": client.get("/history/imports/%00"),
        "api": client.get("/api/me?x=%00"),
    }


def test_a_nul_character_in_any_input_is_a_400_with_a_sentence_not_a_500(
    client: FlaskClient, signed_in: User
) -> None:
    job = draft_of(upload(client, b"Email\nada@example.com\n"))
    before = dict(job.import_options)

    responses = nul_requests(client, job)

    for where, response in responses.items():
        assert response.status_code == 400, where  # type: ignore[attr-defined]
        body = response.get_data(as_text=True)  # type: ignore[attr-defined]
        assert "contained a NUL character (binary data)" in body, where
    assert responses["api"].is_json  # type: ignore[attr-defined]
    db.session.expire_all()
    assert job.import_options == before  # nothing was saved


def test_signing_in_with_a_nul_character_is_refused_without_a_500(
    client: FlaskClient, user: User
) -> None:
    response = post(client, "/login", {"email": f"{user.email}\x00", "password": "x\x00"})

    assert response.status_code == 400
    assert "contained a NUL character" in response.get_data(as_text=True)


# --- hostile files on the upload step -------------------------------------------------------------


def hostile_uploads(tmp_path: Path) -> dict[str, tuple[str, bytes, str]]:
    """(file name, content, the start of the sentence shown) for each kind of hostile file."""
    bomb = tmp_path / "bomb.xlsx"
    bomb_workbook(bomb, lambda size: size)
    far = '<row r="1000000"><c r="XFD1000000"><v>1</v></c></row>'
    grid_bomb = workbook_with_sheet(tmp_path / "grid.xlsx", far_cell_sheet(far))
    xxe = workbook_members()
    xxe[SHEET] = (XXE + xxe[SHEET].decode().replace("<t>Ada</t>", "<t>&xxe;</t>")).encode()
    entities = io.BytesIO()
    with zipfile.ZipFile(entities, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in xxe.items():
            archive.writestr(name, content)
    return {
        "zip bomb": ("bomb.xlsx", bomb.read_bytes(), "This workbook looks damaged or unsafe"),
        "xxe": ("xxe.xlsx", entities.getvalue(), "This Excel workbook could not be read"),
        "png as xlsx": (
            "photo.xlsx",
            b"\x89PNG\r\n\x1a\n" + bytes(300),
            "This file is not a valid",
        ),
        "deep json": (
            "deep.json",
            b"[" + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"]",
            "Record 1 is nested more than 32 levels deep",
        ),
        "wide csv": (
            "wide.csv",
            ",".join(f"c{i}" for i in range(10_000)).encode() + b"\n1\n",
            "The file has 10,000 columns; the limit is 500",
        ),
        "header only": ("header.csv", b"Email\n", "The file has column names but no rows"),
        "grid bomb": (
            "grid.xlsx",
            grid_bomb.read_bytes(),
            "A sheet of this workbook has cells as far down as row 1,000,000",
        ),
    }


def test_hostile_files_are_refused_on_the_upload_step_and_nothing_is_kept(
    app: Flask, client: FlaskClient, signed_in: User, tmp_path: Path
) -> None:
    for case, (name, content, message) in hostile_uploads(tmp_path).items():
        response = upload(client, content, name)

        assert response.status_code == 400, case
        page = response.get_data(as_text=True)
        shown = re.search(r'<p id="file-error" class="field-error" role="alert">([^<]+)</p>', page)
        assert shown and html.unescape(shown.group(1)).startswith(message), case
        assert "root:" not in page, case
    assert db.session.scalar(select(func.count(ImportJob.id))) == 0
    storage = Path(app.config["STORAGE_LOCAL_PATH"])
    assert [p for p in storage.rglob("*") if p.is_file()] == []


def test_formula_cells_in_the_dry_run_error_file_are_inert(
    client: FlaskClient, signed_in: User
) -> None:
    rows = [
        ["Email", "Notes"],
        ['=HYPERLINK("http://x","y")', "@SUM(1+1)"],
        ["+cmd|' /C calc'!A0", "-2+3"],
    ]
    job = draft_of(upload(client, csv_bytes(rows), "formulas.csv"))
    through_mapping(client, job)
    post(client, f"/imports/{job.id}/options", {**options_form(), "action": "continue"})

    response = client.get(f"/imports/{job.id}/dry-run/errors.csv")

    lines = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert [line[:2] for line in lines] == [
        ["Email", "Notes"],
        ['\'=HYPERLINK("http://x","y")', "'@SUM(1+1)"],
        ["'+cmd|' /C calc'!A0", "'-2+3"],
    ]


@pytest.mark.parametrize(
    "body",
    [{"name": "a\x00b"}, {"a\x00": 1}, [[{"deep": ["x", "y\x00"]}]]],
    ids=["value", "key", "nested"],
)
def test_a_nul_escape_in_a_json_body_is_a_400_before_any_view_runs(
    client: FlaskClient, body: object
) -> None:
    response = client.post("/api/me", json=body)

    assert response.status_code == 400 and response.is_json
    assert "contained a NUL character (binary data)" in response.get_data(as_text=True)


# --- JSON nested deeper than a parser can follow -------------------------------------------------

DEEP_JSON = {
    "lists": "[" * 1000 + "]" * 1000,
    "objects": '{"a":' * 1000 + "1" + "}" * 1000,
    "utf-16 lists": ("[" * 1000 + "]" * 1000).encode("utf-16"),
}


@pytest.mark.parametrize("body", DEEP_JSON.values(), ids=DEEP_JSON.keys())
@pytest.mark.parametrize("path", ["/healthz", "/login", "/api/me", "/api/openapi.json"])
def test_json_nested_1000_deep_is_a_400_with_a_sentence_on_any_url(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, path: str, body: str | bytes
) -> None:
    response = client.get(path, data=body, content_type="application/json")

    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "nested more than 64 levels deep" in text
    if path.startswith("/api/"):
        assert response.get_json()["error"].startswith("The JSON in the request is nested")
        assert response.get_json()["details"] == []
    elif path == "/login":
        assert "<html" in text  # the error page a person sees
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_json_with_brackets_inside_its_strings_is_not_deep(
    client: FlaskClient, signed_in: User
) -> None:
    quoted = {"name": "[" * 500 + '\\"{' * 500, "tags": ["]" * 500]}

    response = client.get("/api/me", json=quoted)

    assert response.status_code == 401  # read, then refused for want of a token
    assert "nested more than" not in response.get_data(as_text=True)


def test_a_deeply_nested_mapping_in_an_api_upload_names_the_field(
    app: Flask, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.web.api.conftest import issue_token

    client = app.test_client(use_cookies=False)
    response = client.post(
        "/api/contacts/import",
        headers={"Authorization": f"Bearer {issue_token(user)}"},
        data={
            "file": (io.BytesIO(b"Email\nada@example.com\n"), "people.csv"),
            "fieldMapping": "[" * 1000 + "]" * 1000,
        },
        content_type="multipart/form-data",
    )

    assert response.status_code == 400
    assert response.get_json()["details"][0]["field"] == "fieldMapping"
    assert "nested more than 64 levels deep" in response.get_json()["error"]
    assert db.session.scalar(select(func.count(ImportJob.id))) == 0
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
