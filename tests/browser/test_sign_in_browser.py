"""Sign-in and the dashboard in Chromium."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from app.models import User
from tests.browser.conftest import screenshot, sign_in


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
