"""Full-page screenshots of the main pages in every language, for people to look at.

Saved to ``var/screenshots/<page>-<lang>.png`` (git-ignored). Each page is also checked for
what is easy to break without noticing: the language actually shown, no console errors (a
Content-Security-Policy violation is one) and, in Chinese, the shipped CJK web font in use.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import screenshot, sign_in, sign_out, use_language
from tests.e2e.conftest import VIEWPORT, ConsoleWatch
from transferdesk.management.commands.seed_demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

# page name -> its main heading, per language
HEADINGS = {
    "sign-in": {"en": "Sign in", "zh-hans": "登录"},
    "locked-out": {"en": "This account is locked", "zh-hans": "此账户已锁定"},
    "deals": {"en": "Deals", "zh-hans": "交易"},
    "compliance": {"en": "Compliance", "zh-hans": "合规"},
    "data-room": {"en": "Data room", "zh-hans": "数据室"},
    "password-change": {"en": "Change password", "zh-hans": "修改密码"},
    "not-found": {"en": "This page does not exist", "zh-hans": "此页面不存在"},
    "forbidden": {
        "en": "You are not allowed to open this page",
        "zh-hans": "您无权打开此页面",
    },
    "admin": {"en": "Site administration", "zh-hans": "站点管理"},
    "sign-in-error": {"en": "Sign in", "zh-hans": "登录"},
    "sign-in-mobile": {"en": "Sign in", "zh-hans": "登录"},
    "deals-mobile": {"en": "Deals", "zh-hans": "交易"},
    "menu-mobile": {"en": "Deals", "zh-hans": "交易"},
    "user-menu": {"en": "Deals", "zh-hans": "交易"},
}
LANGUAGES = ["en", "zh-hans"]
ERROR_STATUS = re.compile(r"status of 40[34]")

CJK_FONT_LOADED = """() => [...document.fonts].some(
    (face) => face.family.replace(/"/g, "") === "TD CJK" && face.status === "loaded")"""


def _shoot(
    page: Page, console: ConsoleWatch, name: str, lang: str, status_error: bool = False
) -> None:
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.get_by_role("heading", name=HEADINGS[name][lang]).first).to_be_visible()
    path = screenshot(page, name)
    assert path.stat().st_size > 10_000, f"{path} looks blank"
    if lang == "zh-hans":
        assert page.evaluate(CJK_FONT_LOADED), f"{name}: the shipped CJK font was not used"
    errors = console.take()
    if status_error:  # the page itself answers 403/404/429, which Chromium logs as an error
        errors = [e for e in errors if not ERROR_STATUS.search(e) and "status of 429" not in e]
    assert errors == [], f"console errors on {name} ({lang}): {errors}"


def _shoot_signed_in_pages(page: Page, console: ConsoleWatch, lang: str) -> None:
    """Every role's pages, on a desktop and then on a phone, in one language."""
    page.goto("/accounts/login/")
    _shoot(page, console, "sign-in", lang)

    sign_in(page, "broker", DEMO_PASSWORD)
    _shoot(page, console, "deals", lang)
    page.click(".td-user")
    expect(page.locator(".td-user-menu")).to_be_visible()
    _shoot(page, console, "user-menu", lang)
    page.goto("/accounts/password/")
    _shoot(page, console, "password-change", lang)
    page.goto("/deals/no-such-page/")
    _shoot(page, console, "not-found", lang, status_error=True)
    sign_out(page)

    sign_in(page, "compliance", DEMO_PASSWORD)
    _shoot(page, console, "compliance", lang)
    sign_out(page)

    sign_in(page, "buyer", DEMO_PASSWORD)
    _shoot(page, console, "data-room", lang)
    page.goto("/deals/")
    _shoot(page, console, "forbidden", lang, status_error=True)
    sign_out(page)

    sign_in(page, "admin", DEMO_PASSWORD)
    _shoot(page, console, "admin", lang)
    sign_out_of_admin(page)

    # The same on a phone.
    page.set_viewport_size({"width": 390, "height": 844})

    page.goto("/accounts/login/")
    _shoot(page, console, "sign-in-mobile", lang)
    sign_in(page, "broker", DEMO_PASSWORD)
    _shoot(page, console, "deals-mobile", lang)
    page.click(".navbar-toggler")
    expect(page.locator("#td-nav.show")).to_be_visible()
    page.wait_for_timeout(400)  # the collapse animation
    _shoot(page, console, "menu-mobile", lang)
    sign_out(page)
    page.set_viewport_size(VIEWPORT)


def test_screenshots_of_the_main_pages(
    demo_users: None, page: Page, live_server, console: ConsoleWatch
) -> None:
    """Both languages in one test: the demo data is seeded once."""
    for lang in LANGUAGES:
        use_language(page, live_server.url, lang)
        _shoot_signed_in_pages(page, console, lang)

    # Five failed attempts lock the account; the sixth is refused even with the right password.
    for lang in LANGUAGES:
        use_language(page, live_server.url, lang)
        page.goto("/accounts/login/")
        sign_in(page, "buyer2", "not-the-password")
        _shoot(page, console, "sign-in-error", lang)
    for _ in range(5 - len(LANGUAGES)):
        sign_in(page, "buyer2", "not-the-password")
    for lang in LANGUAGES:
        use_language(page, live_server.url, lang)
        page.goto("/accounts/login/")
        sign_in(page, "buyer2", DEMO_PASSWORD)
        _shoot(page, console, "locked-out", lang, status_error=True)


def sign_out_of_admin(page: Page) -> None:
    with page.expect_navigation():
        page.click("#logout-form button[type=submit]")
