"""Full-page screenshots of the main pages in every language, for people to look at.

Saved to ``var/screenshots/<page>-<lang>.png`` (git-ignored). Each page is also checked for
what matters visually but is easy to break silently: the language actually shown, no console
errors (CSP violations included) and, in Chinese, the shipped CJK web font being used.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import screenshot, sign_in, sign_out, use_language
from tests.e2e.conftest import ConsoleWatch

pytestmark = pytest.mark.browser

# page name -> its heading, per language
HEADINGS = {
    "sign-in": {"en": "Sign in", "zh-hans": "登录"},
    "locked-out": {"en": "This account is locked", "zh-hans": "此账户已锁定"},
    "deals": {"en": "Deals", "zh-hans": "交易"},
    "compliance": {"en": "Compliance", "zh-hans": "合规"},
    "data-room": {"en": "Data room", "zh-hans": "数据室"},
    "password-change": {"en": "Change password", "zh-hans": "修改密码"},
}


def _shoot(page: Page, console: ConsoleWatch, name: str, lang: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.get_by_role("heading", name=HEADINGS[name][lang]).first).to_be_visible()
    path = screenshot(page, name)
    assert path.stat().st_size > 10_000, f"{path} looks blank"
    assert console.unexpected() == [], f"console errors on {name} ({lang})"


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_screenshots_of_the_main_pages(page: Page, live_server, console, lang: str) -> None:
    use_language(page, live_server.url, lang)

    page.goto("/accounts/login/")
    _shoot(page, console, "sign-in", lang)

    for username, name in [
        ("broker", "deals"),
        ("compliance", "compliance"),
        ("buyer", "data-room"),
    ]:
        sign_in(page, username)
        _shoot(page, console, name, lang)
        if username == "broker":
            page.goto("/accounts/password/")
            _shoot(page, console, "password-change", lang)
        sign_out(page)

    # Five failed attempts lock the account; the sixth is refused even with the right password.
    for _ in range(5):
        sign_in(page, "buyer2", "not-the-password")
    console.allow(r"status of 4\d\d")  # the lock-out page answers with an error status
    sign_in(page, "buyer2")
    _shoot(page, console, "locked-out", lang)
