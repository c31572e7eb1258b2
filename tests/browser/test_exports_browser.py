"""An export made in Chromium: the form, the live count, a real worker, the file downloaded."""

from __future__ import annotations

import csv
import io
import re
import subprocess
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from app.models import Tenant, User
from tests.browser.conftest import screenshot, sign_in
from tests.exports.conftest import add_custom_fields, person

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_an_export_is_made_and_downloaded_from_the_history_page(
    app: Flask, page: Page, user: User, tenant: Tenant, worker: subprocess.Popen[bytes]
) -> None:
    add_custom_fields(tenant)
    person(
        tenant,
        "ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        company="=1+2",
        tags=("vip",),
        custom={"zip": "01234"},
    )
    person(
        tenant,
        "zoë@example.com",
        first_name="Zoë",
        tags=("vip", "customer"),
        custom={"zip": "75001"},
    )
    person(tenant, "grace@example.com", first_name="Grace", tags=("customer",))

    sign_in(page, user.email)
    page.get_by_role("link", name="Export", exact=True).first.click()
    page.wait_for_url("**/exports/new")
    count = page.locator("#export-count")
    expect(count).to_have_text("3 contacts will be exported")

    page.get_by_label("Contacts that match filters").check()
    page.locator("fieldset", has_text="Has tags").get_by_label("vip").check()
    expect(count).to_have_text("2 contacts will be exported")
    page.locator("#conditions select").first.select_option("company")
    page.locator("#conditions select").nth(1).select_option("empty")
    expect(count).to_have_text("1 contact will be exported")
    page.locator("#conditions select").nth(1).select_option("not_empty")
    expect(count).to_have_text("1 contact will be exported")
    page.locator("#conditions select").first.select_option("")
    expect(count).to_have_text("2 contacts will be exported")

    picker = page.locator("#field-picker")
    picker.get_by_role("checkbox", name=re.compile("^ZIP")).check()
    picker.get_by_role("checkbox", name=re.compile("^Tags")).check()
    for place in (9, 8, 7, 6, 5, 4):  # each click swaps the list in place (htmx)
        page.get_by_role("button", name="Move ZIP up").click()
        expect(page.locator("#field-picker li").nth(place)).to_contain_text("ZIP")
    page.get_by_label("For Excel (UTF-8 with a byte order mark)").check()
    screenshot(page, "export-form")
    page.get_by_role("button", name="Create export").click()

    page.wait_for_url(re.compile(r"/exports/[0-9a-f-]{36}$"))
    export_id = page.url.rsplit("/", 1)[-1]
    expect(page.locator("#export-state")).to_have_text("completed", timeout=30_000)
    expect(page.locator("#export-status")).to_contain_text("2 contacts")
    screenshot(page, "export-detail")

    page.get_by_role("link", name="← History").click()
    row = page.locator(f"#export-{export_id}")
    expect(row).to_contain_text("completed")
    with page.expect_download() as download_info:
        row.get_by_role("link", name="Download").click()
    download = download_info.value
    assert download.suggested_filename.startswith("contacts-filtered-")
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [
        ["Email", "First name", "Last name", "Company", "ZIP", "Phone", "Tags"],
        ["ada@example.com", "Ada", "Lovelace", "'=1+2", "01234", "", "vip"],
        ["zoë@example.com", "Zoë", "", "", "75001", "", "customer; vip"],
    ]
