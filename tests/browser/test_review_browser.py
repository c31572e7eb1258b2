"""Refused rows fixed in Chromium: corrected in the review step, then imported with no error."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.models import Tenant, User
from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_wizard_browser import saved, upload, write_csv
from tests.imports.conftest import snapshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIGNUPS = [
    ["Email", "First Name", "Phone"],
    ["ada@example.com", "Ada", "020 7946 0958"],  # row 2
    ["grace(at)example.com", "Grace", "+1 202 555 0143"],  # 3: invalid email
    ["alan@example.com", "Alan", "12345"],  # 4: invalid phone
    ["katherine@example.com", "Katherine", "call me"],  # 5: invalid phone
    ["", "Nobody", "020 7946 0000"],  # 6: no email
]


def checked(page: Page, user: User, tmp_path: Path) -> None:
    """Signed in, SIGNUPS uploaded and mapped, phone checks on: the confirm step's dry run."""
    sign_in(page, user.email)
    upload(page, write_csv(tmp_path / "signups.csv", SIGNUPS))
    page.get_by_role("button", name="Continue to mapping").click()
    page.wait_for_url(re.compile(r"/mapping$"))
    page.locator("#continue").click()
    page.wait_for_url(re.compile(r"/options$"))
    # each change is saved as it is made: wait for it, or a late save could land after Continue
    with saved(page, "/options"):
        page.get_by_label("Refuse rows whose phone number is not a valid number").check()
    with saved(page, "/options"):
        page.get_by_label("Default phone country").select_option("GB")
    page.get_by_role("button", name="Continue to review").click()


def test_refused_rows_are_corrected_in_the_review_and_imported_with_no_error(
    page: Page, user: User, tenant: Tenant, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    checked(page, user, tmp_path)
    page.wait_for_url(re.compile(r"/confirm$"))
    expect(page.locator("#would-fail")).to_have_text("4", timeout=30_000)
    page.get_by_role("button", name="Fix the 4 rows here").click()

    # The review: each bad cell marked, its message tied to it.
    page.wait_for_url(re.compile(r"/review$"))
    expect(page.locator("#review-table tbody tr")).to_have_count(4)
    email = page.get_by_label("Email, row 3")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#msg-3-0")).to_contain_text("not a valid email address")
    screenshot(page, "review-1-refused-rows")

    # Corrected in place, with the keyboard: each row is checked when a cell is left.
    with saved(page, "/review/row"):
        email.fill("grace@example.com")
        email.press("Tab")
    expect(page.locator("#status-3")).to_have_text("Fixed")
    expect(page.get_by_label("First Name, row 3")).to_be_focused()  # focus kept after the swap
    phone = page.get_by_label("Phone, row 4")
    with saved(page, "/review/row"):
        phone.fill("still wrong")
        phone.press("Tab")
    expect(page.locator("#msg-4-2")).to_contain_text("not a valid phone number")
    with saved(page, "/review/row"):
        page.get_by_label("Phone, row 4").fill("07911 123456")
        page.get_by_label("Phone, row 4").press("Tab")
    expect(page.locator("#status-4")).to_have_text("Fixed")
    expect(page.locator("#review-row-4")).to_contain_text("Imported as +447911123456")
    with saved(page, "/review/row"):
        page.locator("#skip-6").check()
    expect(page.locator("#status-6")).to_have_text("Skipped")

    # A bulk fix: every remaining invalid phone number gets one value.
    page.locator("#bulk-fixes summary").click()
    page.get_by_label("Every cell with this problem").select_option(
        label="Invalid phone numbers in “Phone”"
    )
    page.get_by_label("The value to set").fill("+44 20 7946 0999")
    page.get_by_role("button", name="Apply to every such row").click()
    expect(page.locator(".flash")).to_contain_text("1 cell set to")
    expect(page.locator("#review-totals")).to_contain_text("0 rows still refused")
    screenshot(page, "review-2-corrected")

    # Back on the confirm page, checked again, then imported with zero errors.
    page.get_by_role("button", name="Back to review and start").click()
    expect(page.locator("#corrected-since")).to_be_visible()
    page.get_by_role("button", name="Check the file").click()
    expect(page.locator("#would-fail")).to_have_text("0", timeout=30_000)
    expect(page.locator("#would-create")).to_have_text("4")
    expect(page.locator("#review-corrections")).to_contain_text(
        "3 rows corrected in the browser, 1 skipped"
    )
    page.get_by_role("button", name="Start import").click()
    page.wait_for_url(re.compile(r"/imports/[0-9a-f-]+$"))
    expect(page.locator("#percent")).to_have_text("100%", timeout=60_000)
    expect(page.locator("#count-created")).to_have_text("4")
    expect(page.locator("#count-errors")).to_have_text("0")
    expect(page.locator("#progress-corrected")).to_contain_text(
        "3 rows corrected in the browser, 1 skipped there"
    )
    screenshot(page, "review-3-imported")

    contacts = snapshot(tenant.id)
    assert sorted(contacts) == [
        "ada@example.com",
        "alan@example.com",
        "grace@example.com",
        "katherine@example.com",
    ]
    assert contacts["alan@example.com"]["phone"] == "+447911123456"
    assert contacts["katherine@example.com"]["phone"] == "+442079460999"


def test_a_finished_imports_refused_rows_are_fixed_and_imported_as_a_follow_up(
    page: Page, user: User, tenant: Tenant, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    checked(page, user, tmp_path)
    expect(page.locator("#would-fail")).to_have_text("4", timeout=30_000)
    page.get_by_role("button", name="Start import").click()
    page.wait_for_url(re.compile(r"/imports/[0-9a-f-]+$"))
    first_url = page.url
    expect(page.locator("#percent")).to_have_text("100%", timeout=60_000)
    expect(page.locator("#count-errors")).to_have_text("4")

    # After the import: the same table, for its refused rows.
    page.get_by_role("button", name="Fix the 4 refused rows").click()
    page.wait_for_url(re.compile(r"/review$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Fix the rows the import of signups.csv refused"
    )
    with saved(page, "/review/row"):
        page.get_by_label("Email, row 3").fill("grace@example.com")
        page.get_by_label("Email, row 3").press("Tab")
    expect(page.locator("#status-3")).to_have_text("Fixed")
    with saved(page, "/review/row"):
        page.get_by_label("Phone, row 5").fill("+44 20 7946 0999")
        page.get_by_label("Phone, row 5").press("Tab")
    expect(page.locator("#status-5")).to_have_text("Fixed")
    screenshot(page, "follow-up-1-review")
    page.get_by_role("button", name="Import the 2 corrected rows").click()

    # The follow-up runs with its own counts and rollback, linked both ways.
    page.wait_for_url(re.compile(r"/imports/[0-9a-f-]+$"))
    assert page.url != first_url
    expect(page.locator("#percent")).to_have_text("100%", timeout=60_000)
    expect(page.locator("#count-created")).to_have_text("2")
    expect(page.locator("#count-errors")).to_have_text("0")
    expect(page.locator("#follows-up")).to_contain_text("the import of signups.csv")
    expect(page.get_by_role("button", name="Roll back this import")).to_be_visible()
    screenshot(page, "follow-up-2-done")
    page.locator("#follows-up a").click()
    expect(page.locator("#followed-up")).to_contain_text(
        "corrected and imported by a follow-up import"
    )

    contacts = snapshot(tenant.id)
    assert sorted(contacts) == ["ada@example.com", "grace@example.com", "katherine@example.com"]


def test_typing_in_the_next_cell_survives_the_row_being_saved(
    page: Page, user: User, tenant: Tenant, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    checked(page, user, tmp_path)
    expect(page.locator("#would-fail")).to_have_text("4", timeout=30_000)
    page.get_by_role("button", name="Fix the 4 rows here").click()
    page.wait_for_url(re.compile(r"/review$"))

    def slowly(route):  # type: ignore[no-untyped-def]
        time.sleep(0.8)  # the answer is still on its way while the person types on
        route.continue_()

    page.route("**/review/row", slowly)
    email = page.get_by_label("Email, row 3")
    with saved(page, "/review/row"):
        email.fill("grace@example.com")
        email.press("Tab")  # saves row 3; the focus moves to its first name
        page.keyboard.press("End")
        page.keyboard.type(" Hopper")
    expect(page.locator("#status-3")).to_have_text("Fixed")
    name = page.get_by_label("First Name, row 3")
    expect(name).to_have_value("Grace Hopper")
    expect(name).to_be_focused()
    with saved(page, "/review/row"):
        name.press("Tab")
    expect(page.locator("#review-row-3")).to_contain_text("Was: Grace")
