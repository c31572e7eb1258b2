"""Sign-in and the dashboard in Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from app.models import User
from tests.browser.conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_sign_in_shows_the_dashboard_with_working_navigation(page: Page, user: User) -> None:
    page.goto("/")
    expect(page).to_have_url("/login?next=%2F")
    screenshot(page, "sign-in")
    sign_in(page, user.email)
    expect(page.get_by_role("heading", name="Acme")).to_be_visible()
    expect(page.locator("#contact-count")).to_have_text("0")
    screenshot(page, "dashboard")
    page.get_by_role("link", name="Contacts", exact=True).click()
    page.wait_for_url("**/contacts/")
    expect(page.get_by_text("No contacts yet")).to_be_visible()


def test_sign_out_everywhere_from_the_account_page_signs_out_the_other_browser(
    page: Page, browser: Browser, live_server: str, user: User
) -> None:
    other = browser.new_context(base_url=live_server).new_page()
    sign_in(other, user.email)
    sign_in(page, user.email)
    page.get_by_role("link", name=user.email).click()
    page.wait_for_url("**/account")
    expect(page.get_by_role("heading", name="Where you are signed in")).to_be_visible()
    expect(page.locator("#sessions tbody tr")).to_have_count(2)
    expect(page.get_by_text("this browser")).to_be_visible()
    screenshot(page, "account")
    page.get_by_role("button", name="Sign out everywhere").click()
    page.wait_for_url("**/login")
    expect(page.get_by_text("You are signed out everywhere (2 sessions ended)")).to_be_visible()
    other.goto("/contacts/")
    expect(other).to_have_url("/login?next=%2Fcontacts%2F")
    other.context.close()
