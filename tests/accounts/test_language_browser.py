"""In a real browser: a signed-in user's language choice is remembered, so signing in later
on another browser (no language cookie, English locale) comes back in it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from tests.e2e.browser import screenshot, sign_in
from tests.e2e.conftest import (  # noqa: F401 - the browser fixtures, shared
    VIEWPORT,
    browser,
    cast,
    compiled_catalogues,
    console,
    page,
)
from tests.factories import PASSWORD, Cast

pytestmark = pytest.mark.browser


def test_a_chosen_language_comes_back_on_the_next_sign_in_elsewhere(
    cast: Cast,  # noqa: F811 - committed, with the role groups back (live server)
    page: Page,  # noqa: F811
    browser: Browser,  # noqa: F811
    live_server: LiveServer,
) -> None:
    sign_in(page, "broker", PASSWORD)
    page.get_by_role("button", name="简体中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")

    other = browser.new_context(
        base_url=live_server.url, viewport=VIEWPORT, locale="en-GB", device_scale_factor=1
    )
    try:
        fresh = other.new_page()
        fresh.goto("/accounts/login/")
        expect(fresh.locator("html")).to_have_attribute("lang", "en")  # nobody signed in yet
        sign_in(fresh, "broker", PASSWORD)
        expect(fresh).to_have_url(re.compile(r"/deals/$"))
        expect(fresh.locator("html")).to_have_attribute("lang", "zh-hans")
        expect(fresh.get_by_role("heading", level=1)).to_have_text("交易")
        expect(fresh.get_by_role("button", name="简体中文")).to_have_attribute(
            "aria-pressed", "true"
        )
        screenshot(fresh, "sign-in-remembered-language")
    finally:
        other.close()
