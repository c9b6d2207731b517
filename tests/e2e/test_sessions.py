"""The sessions page in a real browser (issue 15): the same person signed in in two browsers
signs the other one out from the first ("sign out everywhere else"), in English and Chinese."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser import screenshot, sign_in, use_language
from tests.factories import PASSWORD, Cast

pytestmark = pytest.mark.browser

SESSIONS = "/accounts/sessions/"
SECOND_BROWSER = "TransferDesk-Test Second Laptop"


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_sign_out_everywhere_else_ends_the_other_browsers_session(
    cast: Cast, page: Page, browser: Browser, live_server: Any, language: str
) -> None:
    other = browser.new_context(base_url=live_server.url, user_agent=SECOND_BROWSER)
    try:
        second = other.new_page()
        use_language(page, live_server.url, language)
        use_language(second, live_server.url, language)
        sign_in(second, "broker", PASSWORD)
        sign_in(page, "broker", PASSWORD)

        # The first browser finds the page from the user menu.
        page.click(".td-user")
        with page.expect_navigation(url=re.compile(f"{SESSIONS}$")):
            page.click(f".td-user-menu a[href='{SESSIONS}']")
        rows = page.locator("table.td-sessions tbody tr")
        expect(rows).to_have_count(2)
        expect(page.locator("tr.td-session-current")).to_have_count(1)
        expect(page.locator("tr.td-session", has_text=SECOND_BROWSER)).to_have_count(1)
        expect(page.locator("tr.td-session-current", has_text=SECOND_BROWSER)).to_have_count(0)
        screenshot(page, "sessions")

        with page.expect_navigation():
            page.click(f"form[action='{SESSIONS}'] button[type=submit]")
        expect(rows).to_have_count(1)
        expect(page.locator("tr.td-session-current")).to_have_count(1)

        # The second browser's next page load lands on the sign-in page.
        second.goto("/deals/")
        expect(second).to_have_url(re.compile(r"/accounts/login/"))
        expect(second.locator("form.td-sign-in")).to_be_visible()
        if language == "zh-hans":
            expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
            expect(page.locator("h1")).to_contain_text("会话")
    finally:
        other.close()
