"""What a person does in the browser, shared by the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pyotp
from django.conf import settings
from django.contrib.auth import get_user_model
from playwright.sync_api import Page

from tests.support.mfa import enrol_totp, totp_code

SCREENSHOT_DIR = Path(settings.BASE_DIR) / "var" / "screenshots"


def sign_in(page: Page, username: str, password: str, *, second_factor: bool = True) -> None:
    """Sign in through the real sign-in page, as a person would (again, after a failure).

    With ``second_factor`` (the default) the person has an authenticator app (enrolled here if
    they had none) and types its current code when the page asks for it; without, the test
    sees the page that follows the password (the code step, or enrolment)."""
    user = get_user_model()._default_manager.filter(username=username).first()
    if second_factor and user is not None:
        enrol_totp(user)
    if page.locator("form.td-sign-in").count() == 0:
        page.goto("/accounts/login/")
    page.fill("#id_login", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("form.td-sign-in button[type=submit]")
    if second_factor and user is not None and page.locator("#id_code").count():
        enter_code(page, totp_code(user))


def enrol_totp_in_page(page: Page) -> str:
    """Activate an authenticator app on the enrolment page, typing the code an app computes
    from the secret the page shows (pyotp). Returns the secret."""
    page.goto("/accounts/2fa/totp/activate/")
    secret = page.input_value("#authenticator_secret")
    enter_code(page, pyotp.TOTP(secret).now())
    return secret


def enter_code(page: Page, code: str) -> None:
    """Type a code (authenticator app or recovery code) on the second-factor page."""
    page.fill("#id_code", code)
    with page.expect_navigation():
        page.click("form.td-allauth-form button[type=submit]")


def sign_out(page: Page) -> None:
    """Open the user menu and choose the sign-out entry (whatever the language)."""
    if not page.locator(".td-user-menu").is_visible():
        page.click(".td-user")
    with page.expect_navigation():
        page.click("form.td-sign-out button[type=submit]")


def use_language(page: Page, base_url: str, code: str) -> None:
    """Set the interface language cookie, as the language switcher does."""
    page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": code, "url": base_url}]
    )


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG as ``var/screenshots/<name>-<lang>.png`` (lang as the page says).

    Waits for web fonts, so Chinese text is captured in the shipped CJK font, not as boxes.
    """
    page.wait_for_load_state("load")
    page.evaluate("document.fonts.ready.then(() => true)")
    lang = page.locator("html").get_attribute("lang") or "unknown"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}-{lang}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
