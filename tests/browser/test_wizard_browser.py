"""The import wizard in Chromium, against the live server and a real worker process."""

from __future__ import annotations

import csv
import re
import subprocess
from pathlib import Path

import pytest
from openpyxl import Workbook
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import CustomField, ImportJob, Tenant, User
from tests.browser.conftest import screenshot, sign_in
from tests.imports.conftest import add_contact, snapshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def upload(page: Page, path: Path, shot: str | None = None) -> None:
    """Choose a file on the upload step and send it; waits for the file step."""
    page.goto("/imports/new")
    page.set_input_files("#file", str(path))
    expect(page.locator("#file-chosen")).to_contain_text(path.name)
    if shot:
        screenshot(page, shot)
    page.get_by_role("button", name="Upload and continue").click()
    page.wait_for_url(re.compile(r"/imports/[0-9a-f-]+/file$"))


def saved(page: Page, path: str):  # type: ignore[no-untyped-def]
    """Wait for the htmx request that saves a step (a POST to `path`)."""
    return page.expect_response(
        lambda r: r.request.method == "POST" and r.url.split("?")[0].endswith(path)
    )


LEADS = [
    ["E-mail Address", "Frist Name", "Surname", "Organisation", "Mobile Phone", "Tags"],
    ["ada@example.com", "Ada", "Lovelace", "Analytical Engines", "020 7946 0958", "vip"],
    ["grace@example.com", "Grace", "Hopper", "US Navy", "+1 202 555 0143", ""],
    ["not-an-email", "Bad", "Row", "Nowhere", "", ""],
    ["alan@gamil.com", "Alan", "Turing", "Bletchley Park", "", "vip; speaker"],
    ["katherine@example.com", "Katherine", "Johnson", "NASA", "", ""],
]


def test_a_csv_goes_in_end_to_end_with_suggestions_preview_dry_run_and_progress(
    page: Page,
    user: User,
    tenant: Tenant,
    worker: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    add_contact(tenant, "grace@example.com", first_name="Grace", last_name="H.", company="Navy")
    path = write_csv(tmp_path / "leads.csv", LEADS)
    sign_in(page, user.email)
    page.get_by_role("link", name="Import", exact=True).click()
    upload(page, path, shot="wizard-1-upload")

    # Step 1: what was detected.
    expect(page.locator("#fact-type")).to_have_text("CSV or TSV (text with a delimiter)")
    expect(page.locator("#fact-delimiter")).to_have_text("Comma ( , )")
    expect(page.locator("#fact-columns")).to_have_text("6")
    expect(page.locator("#fact-rows")).to_have_text("5")
    screenshot(page, "wizard-2-file")
    page.get_by_role("button", name="Continue to mapping").click()

    # Step 2: suggestions say why; the preview flags the bad email.
    page.wait_for_url(re.compile(r"/mapping$"))
    expect(page.locator("#map-0")).to_have_value("email")
    expect(page.locator("#map-0-why")).to_contain_text("Known alias")
    expect(page.locator("#map-1")).to_have_value("first_name")
    expect(page.locator("#map-1-why")).to_contain_text(re.compile(r"Similar name · \d+%"))
    expect(page.locator("#map-2")).to_have_value("last_name")
    expect(page.locator("#map-3")).to_have_value("company")
    expect(page.locator("#map-4")).to_have_value("phone")
    expect(page.locator("#map-5")).to_have_value("tags")
    expect(page.locator("#map-5-why")).to_contain_text("Exact match")
    invalid = page.locator("#preview-table td.cell-invalid")
    expect(invalid).to_have_count(1)
    expect(invalid).to_contain_text("not-an-email")
    message = invalid.locator(".cell-message")
    expect(message).to_be_hidden()
    invalid.focus()
    expect(message).to_be_visible()
    expect(message).to_contain_text("is not a valid email address")
    expect(page.locator("#preview-summary")).to_contain_text("1 with a problem")
    screenshot(page, "wizard-3-mapping")

    # Continue is disabled, with the reason, while no column is mapped to Email.
    with saved(page, "/mapping"):
        page.locator("#map-0").select_option("ignore")
    expect(page.locator("#continue")).to_be_disabled()
    expect(page.locator("#mapping-problems")).to_contain_text("Map a column to Email")
    screenshot(page, "wizard-3b-mapping-no-email")
    with saved(page, "/mapping"):
        page.locator("#map-0").select_option("email")
    expect(page.locator("#continue")).to_be_enabled()
    page.locator("#continue").click()

    # Step 3: options.
    page.wait_for_url(re.compile(r"/options$"))
    expect(page.get_by_label("Update")).to_be_checked()
    page.locator("#new_tags").fill("spring-fair")
    page.get_by_label("Add them to a new segment").check()
    page.get_by_label("Name of the new segment").fill("Spring leads")
    page.get_by_label("Default phone country").select_option("GB")
    expect(page.locator("#rules")).to_be_visible()
    screenshot(page, "wizard-4-options")
    page.get_by_role("button", name="Continue to review").click()

    # Step 4: the dry run, run by the worker.
    page.wait_for_url(re.compile(r"/confirm$"))
    expect(page.locator("#would-create")).to_have_text("3", timeout=30_000)
    expect(page.locator("#would-update")).to_have_text("1")
    expect(page.locator("#would-fail")).to_have_text("1")
    expect(page.locator("#domain-typos")).to_contain_text("gmail.com")
    expect(page.locator("#segment-change")).to_contain_text("4 contacts would join")
    expect(page.locator("#dry-run-errors")).to_contain_text("not-an-email")
    screenshot(page, "wizard-5-confirm")
    page.get_by_role("button", name="Start import").click()

    # The job page follows the import to its end.
    page.wait_for_url(re.compile(r"/imports/[0-9a-f-]+$"))
    expect(page.locator("#percent")).to_have_text("100%", timeout=60_000)
    expect(page.locator("#job-status")).to_have_text("completed")
    expect(page.locator("#count-created")).to_have_text("3")
    expect(page.locator("#count-updated")).to_have_text("1")
    expect(page.locator("#count-errors")).to_have_text("1")
    expect(page.locator("#rows-processed")).to_have_text("5")
    expect(page.get_by_role("button", name="Download the error report")).to_be_visible()
    expect(page.get_by_role("button", name="Roll back this import")).to_be_visible()
    expect(page.get_by_role("button", name="Import another file")).to_be_visible()
    expect(page.locator("#progress")).not_to_have_attribute("hx-trigger", re.compile("."))
    screenshot(page, "wizard-6-done")

    contacts = snapshot(tenant.id)
    assert sorted(contacts) == [
        "ada@example.com",
        "alan@gamil.com",
        "grace@example.com",
        "katherine@example.com",
    ]
    assert contacts["ada@example.com"]["phone"] == "+442079460958"  # national number, GB default
    assert contacts["ada@example.com"]["tags"] == ["spring-fair", "vip"]
    assert contacts["alan@gamil.com"]["tags"] == ["speaker", "spring-fair", "vip"]
    assert contacts["grace@example.com"]["last_name"] == "Hopper"
    assert contacts["katherine@example.com"]["segments"] == ["Spring leads"]

    # The notification is in the header and on the dashboard.
    page.goto("/")
    expect(page.locator("#unread-count")).to_have_text("1")
    expect(page.locator(".dashboard-notifications")).to_contain_text(
        "Import of leads.csv finished: 3 created, 1 updated"
    )
    screenshot(page, "dashboard-after-import")


def attendees_workbook(path: Path) -> Path:
    wb = Workbook()
    notes = wb.active
    notes.title = "Read me"
    notes.append(["Attendees of both years are on the next sheets."])
    old = wb.create_sheet("2025")
    old.append(["Email", "Name"])
    old.append(["someone@example.com", "Someone"])
    sheet = wb.create_sheet("2026")
    sheet.append(["Email", "First Name", "Last Name", "Attended on"])
    sheet.append(["ada@example.com", "Ada", "Lovelace", "2026-10-01"])
    sheet.append(["bob@example.com", "Bob", "Builder", "2026-10-02"])
    sheet.append(["cy@example.com", "Cy", "Young", "someday"])
    wb.save(path)
    return path


def test_an_xlsx_import_with_a_sheet_choice_and_a_new_custom_field(
    page: Page,
    user: User,
    tenant: Tenant,
    worker: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    path = attendees_workbook(tmp_path / "attendees.xlsx")
    sign_in(page, user.email)
    upload(page, path)
    expect(page.locator("#fact-type")).to_have_text("Excel workbook (.xlsx)")
    expect(page.locator("#fact-sheet")).to_have_text("2025")  # the first sheet with contacts
    with saved(page, "/file"):
        page.get_by_label("Worksheet").select_option("2026")
    expect(page.locator("#fact-sheet")).to_have_text("2026")
    expect(page.locator("#fact-columns")).to_have_text("4")
    expect(page.locator("#raw-rows")).to_contain_text("bob@example.com")
    screenshot(page, "wizard-xlsx-1-sheet")
    page.get_by_role("button", name="Continue to mapping").click()

    page.wait_for_url(re.compile(r"/mapping$"))
    expect(page.locator("#map-3")).to_have_value("ignore")
    name = page.locator("#new-name-3")
    expect(name).to_be_hidden()
    with saved(page, "/mapping"):
        page.locator("#map-3").select_option("__new__")
    expect(name).to_be_visible()
    expect(name).to_have_value("Attended on")
    with saved(page, "/mapping"):
        page.locator("#new-type-3").select_option("date")
    preview = page.locator("#preview-table")
    expect(preview).to_contain_text("Attended on (new)")
    expect(preview).to_contain_text("2026-10-01")
    expect(preview.locator("td.cell-invalid")).to_contain_text("someday")
    screenshot(page, "wizard-xlsx-2-new-field")
    page.locator("#continue").click()

    page.wait_for_url(re.compile(r"/options$"))
    page.get_by_label("Create only").check()
    page.get_by_role("button", name="Continue to review").click()
    page.wait_for_url(re.compile(r"/confirm$"))
    expect(page.locator("#would-create")).to_have_text("2", timeout=30_000)
    expect(page.locator("#summary-mapping")).to_contain_text("Attended on (new)")
    page.get_by_role("button", name="Start import").click()
    expect(page.locator("#job-status")).to_have_text("completed", timeout=60_000)
    expect(page.locator("#count-created")).to_have_text("2")
    screenshot(page, "wizard-xlsx-3-done")

    db.session.expire_all()
    field = db.session.scalar(select(CustomField).where(CustomField.tenant_id == tenant.id))
    assert (field.key, field.label, field.field_type) == ("attended_on", "Attended on", "date")
    contacts = snapshot(tenant.id)
    assert contacts["ada@example.com"]["custom"] == {"attended_on": "2026-10-01"}
    assert contacts["bob@example.com"]["last_name"] == "Builder"
    assert "cy@example.com" not in contacts and "someone@example.com" not in contacts


def test_reload_back_button_and_a_second_tab_keep_the_wizard_state(
    page: Page, user: User, tenant: Tenant, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "people.csv",
        [
            ["Email", "Name", "Town"],
            ["a@example.com", "A", "Paris"],
            ["b@example.com", "B", "Rome"],
        ],
    )
    sign_in(page, user.email)
    upload(page, path)
    page.get_by_role("button", name="Continue to mapping").click()
    page.wait_for_url(re.compile(r"/mapping$"))
    mapping_url = page.url
    with saved(page, "/mapping"):
        page.locator("#map-2").select_option("tags")
    expect(page.locator("#map-2-why")).to_contain_text("Your choice")
    page.reload()
    expect(page.locator("#map-2")).to_have_value("tags")
    page.locator("#continue").click()

    page.wait_for_url(re.compile(r"/options$"))
    options_url = page.url
    with saved(page, "/options"):
        page.get_by_label("Skip").check()
    with saved(page, "/options"):
        page.locator("#new_tags").fill("from-paris")
        page.locator("#new_tags").blur()
    page.go_back()
    page.wait_for_url(mapping_url)
    expect(page.locator("#map-2")).to_have_value("tags")
    expect(page.locator("#preview-table")).to_contain_text("Paris")
    page.go_forward()
    page.wait_for_url(options_url)
    expect(page.get_by_label("Skip")).to_be_checked()
    expect(page.locator("#new_tags")).to_have_value("from-paris")
    page.reload()
    expect(page.get_by_label("Skip")).to_be_checked()
    screenshot(page, "wizard-state-after-reload")

    second = page.context.new_page()
    second.goto(options_url)
    expect(second.get_by_label("Skip")).to_be_checked()
    second.goto(mapping_url)
    expect(second.locator("#map-2")).to_have_value("tags")
    second.close()

    # The draft can be resumed from the dashboard.
    page.goto("/")
    expect(page.locator("#drafts")).to_contain_text("people.csv")
    page.get_by_role("button", name="Resume").click()
    page.wait_for_url(options_url)
    job = db.session.scalar(select(ImportJob).where(ImportJob.tenant_id == tenant.id))
    assert job.status == "draft"


def test_a_refused_file_is_explained_on_the_upload_step(
    page: Page, user: User, tmp_path: Path
) -> None:
    sign_in(page, user.email)
    page.goto("/imports/new")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    page.set_input_files("#file", str(empty))
    error = page.locator("#file-error")
    expect(error).to_contain_text("The file is empty")  # said before anything is sent
    expect(page.locator("#file")).to_have_attribute("aria-invalid", "true")

    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 40)
    page.set_input_files("#file", str(binary))
    expect(error).to_be_hidden()
    page.get_by_role("button", name="Upload and continue").click()
    expect(error).to_contain_text("binary data")
    expect(page).to_have_url(re.compile(r"/imports/new$"))
    screenshot(page, "wizard-upload-refused")
    assert db.session.scalar(select(ImportJob.id)) is None


def fits_the_screen(page: Page) -> bool:
    """No sideways scrolling of the page itself (wide tables scroll inside their own box)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_the_wizard_is_usable_on_a_phone(
    page: Page, user: User, tenant: Tenant, tmp_path: Path
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    path = write_csv(tmp_path / "leads.csv", LEADS)
    sign_in(page, user.email)
    upload(page, path)
    assert fits_the_screen(page)
    screenshot(page, "phone-1-file")
    page.get_by_role("button", name="Continue to mapping").click()
    page.wait_for_url(re.compile(r"/mapping$"))
    assert fits_the_screen(page)
    expect(page.locator("#map-0")).to_be_visible()
    screenshot(page, "phone-2-mapping")
    page.locator("#continue").click()
    page.wait_for_url(re.compile(r"/options$"))
    screenshot(page, "phone-3-options")
    assert fits_the_screen(page)


def test_every_step_works_without_javascript(
    browser: Browser,
    live_server: str,
    user: User,
    tenant: Tenant,
    worker: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        path = write_csv(tmp_path / "plain.csv", LEADS)
        sign_in(page, user.email)
        page.goto("/imports/new")
        page.set_input_files("#file", str(path))
        page.get_by_role("button", name="Upload and continue").click()
        page.wait_for_url(re.compile(r"/file$"))
        expect(page.locator("#fact-columns")).to_have_text("6")
        page.get_by_role("button", name="Continue to mapping").click()

        page.wait_for_url(re.compile(r"/mapping$"))
        page.locator("#map-5").select_option("ignore")
        page.get_by_role("button", name="Update the preview").click()  # shown without JS
        page.wait_for_url(re.compile(r"/mapping$"))
        expect(page.locator("#map-5")).to_have_value("ignore")
        expect(page.locator("#preview-table")).not_to_contain_text("speaker")
        page.get_by_role("button", name="Continue to options").click()

        page.wait_for_url(re.compile(r"/options$"))
        page.get_by_role("button", name="Continue to review").click()
        page.wait_for_url(re.compile(r"/confirm$"))
        # No polling without JS: reload until the worker has checked the file.
        for _ in range(60):
            if page.locator("#would-create").count():
                break
            page.wait_for_timeout(500)
            page.reload()
        expect(page.locator("#would-create")).to_have_text("4")
        page.get_by_role("button", name="Start import").click()
        page.wait_for_url(re.compile(r"/imports/[0-9a-f-]+$"))
        # The job page refreshes itself (a <noscript> meta refresh) until the import ends.
        expect(page.locator("#job-status")).to_have_text("completed", timeout=30_000)
        expect(page.locator("#count-created")).to_have_text("4")
        screenshot(page, "no-js-done")
    finally:
        context.close()
    assert len(snapshot(tenant.id)) == 4


def test_the_review_step_and_the_finished_import_show_the_outcome_as_bars(
    page: Page,
    user: User,
    tenant: Tenant,
    worker: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    rows = [["Email", "First Name", "Last Name", "Company", "Phone"]]
    for n in range(12):  # known people: 8 changed jobs, 4 did not
        company = f"New Co {n}" if n < 8 else f"Co {n}"
        add_contact(tenant, f"known{n}@example.com", first_name=f"K{n}", company=f"Co {n}")
        rows.append(
            [f"known{n}@example.com", f"K{n}", f"Surname{n}" if n in (0, 3, 6) else "", company, ""]
        )
    rows += [[f"new{n}@example.com", f"N{n}", f"L{n}", "Acme", ""] for n in range(26)]
    rows += [["not-an-email", "Bad", "Row", "", ""], ["also@bad", "Bad", "Row", "", ""]]
    path = write_csv(tmp_path / "fair-leads.csv", rows)

    sign_in(page, user.email)
    upload(page, path)
    page.get_by_role("button", name="Continue to mapping").click()
    page.wait_for_url(re.compile(r"/mapping$"))
    page.locator("#continue").click()
    page.wait_for_url(re.compile(r"/options$"))
    expect(page.get_by_label("Update")).to_be_checked()
    page.get_by_role("button", name="Continue to review").click()

    # The review step: one stacked bar, the numbers beside it, and a bar per changed field.
    page.wait_for_url(re.compile(r"/confirm$"))
    outcome = page.locator("#dry-run-outcome")
    expect(outcome).to_be_visible(timeout=30_000)
    bar = outcome.get_by_role("img")
    expect(bar).to_have_accessible_name(re.compile(r"would be created: 26 \(\d+%\)"))
    legend = page.locator("#dry-run-outcome-legend")
    expect(legend).to_contain_text("would be created: 26")
    expect(legend).to_contain_text("would be updated: 8")
    expect(legend).not_to_contain_text("skipped")  # a zero is left out
    expect(legend).to_contain_text("already up to date: 4")
    expect(legend).to_contain_text("refused for errors: 2")
    created = outcome.locator("svg.chart-bar rect.chart-created")
    assert created.evaluate("r => getComputedStyle(r).fill") == "rgb(46, 125, 50)"  # from app.css
    fields = page.locator("#field-changes")
    expect(fields).to_contain_text(re.compile(r"Company\s+8"))
    expect(fields).to_contain_text(re.compile(r"Last name\s+3"))
    outcome.scroll_into_view_if_needed()
    shot = screenshot(page, "wizard-5b-review-outcome-bar")

    page.get_by_role("button", name="Start import").click()
    page.wait_for_url(re.compile(r"/imports/[0-9a-f-]+$"))
    expect(page.locator("#job-status")).to_have_text("completed", timeout=60_000)
    done = page.locator("#job-outcome")
    expect(done).to_be_visible()
    expect(page.locator("#job-outcome-legend")).to_contain_text("created: 26")
    expect(page.locator("#job-outcome-legend")).to_contain_text("updated: 8")
    expect(done.get_by_role("img")).to_have_accessible_name(re.compile(r"created: 26"))
    finished = screenshot(page, "wizard-7b-finished-outcome-bar")
    assert shot.exists() and finished.exists()


def test_consent_options_subscribe_only_with_permission_and_suppress_a_list(
    page: Page,
    user: User,
    tenant: Tenant,
    worker: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    add_contact(tenant, "fan@example.com", subscription_status="subscribed")
    path = write_csv(
        tmp_path / "mailchimp-export.csv",
        [
            ["Email Address", "First Name", "Member Status"],
            ["fan@example.com", "Fan", "unsubscribed"],
            ["new@example.com", "New", ""],
            ["back@example.com", "Back", "subscribed"],
        ],
    )
    sign_in(page, user.email)
    upload(page, path)
    page.get_by_role("button", name="Continue to mapping").click()
    page.wait_for_url(re.compile(r"/mapping$"))
    expect(page.locator("#map-2")).to_have_value("subscription_status")
    expect(page.locator("#map-2-why")).to_contain_text("Mailchimp")
    page.locator("#continue").click()

    page.wait_for_url(re.compile(r"/options$"))
    consent = page.locator("#consent")
    expect(consent.get_by_role("radio", name=re.compile("^Non-subscribed"))).to_be_checked()
    consent.get_by_role("radio", name=re.compile("^Subscribed")).check()
    page.get_by_role("button", name="Continue to review").click()
    expect(page.locator("#consent_confirmed-error")).to_contain_text("Tick this box")
    page.get_by_role(
        "checkbox", name=re.compile("^I confirm the contacts in this file gave")
    ).check()
    screenshot(page, "wizard-4b-consent-options")
    page.get_by_role("button", name="Continue to review").click()

    page.wait_for_url(re.compile(r"/confirm$"))
    changes = page.locator("#status-changes")
    expect(changes).to_contain_text(
        "1 contact would go from subscribed to unsubscribed", timeout=30_000
    )
    expect(changes).to_contain_text("2 new contacts would be subscribed")
    expect(page.locator("#review-consent")).to_contain_text("you confirmed they gave permission")
    screenshot(page, "wizard-5c-status-changes")
    page.get_by_role("button", name="Start import").click()
    page.wait_for_url(re.compile(r"/imports/[0-9a-f-]+$"))
    expect(page.locator("#job-status")).to_have_text("completed", timeout=60_000)
    statuses = {email: c["status"] for email, c in snapshot(tenant.id).items()}
    assert statuses == {
        "fan@example.com": "unsubscribed",
        "new@example.com": "subscribed",
        "back@example.com": "subscribed",
    }

    # a suppression list: everyone in it becomes unsubscribed, whatever the file says
    upload(page, path)
    page.get_by_role("button", name="Continue to mapping").click()
    page.wait_for_url(re.compile(r"/mapping$"))
    page.locator("#continue").click()
    page.wait_for_url(re.compile(r"/options$"))
    page.get_by_role("checkbox", name=re.compile("^This is a suppression list")).check()
    page.get_by_role("button", name="Continue to review").click()
    page.wait_for_url(re.compile(r"/confirm$"))
    expect(page.locator("#status-changes")).to_contain_text(
        "2 contacts would go from subscribed to unsubscribed", timeout=30_000
    )
    page.get_by_role("button", name="Start import").click()
    expect(page.locator("#job-status")).to_have_text("completed", timeout=60_000)
    assert {c["status"] for c in snapshot(tenant.id).values()} == {"unsubscribed"}
