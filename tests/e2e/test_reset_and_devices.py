"""Strong sign-in in a real browser, continued (issue 15): the password reset by e-mail (the
link read from the in-process mail outbox of the live server), which never skips the second
factor; the e-mail on a sign-in from a new device; and re-wrapping the data keys from the
keyring page after a step-up. With screenshots of the new pages in English and Chinese."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.cache import cache
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser import enter_code, screenshot, sign_in, sign_out, use_language
from tests.e2e.conftest import VIEWPORT
from tests.factories import PASSWORD, Cast
from tests.support.mfa import age_second_factor, enrol_totp, totp_code
from transferdesk.crypto.models import DataKey, DataKeyPurpose

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a brand new passphrase 42"
LINK = re.compile(r"https?://\S+/accounts/password/reset/key/\S+/")


@pytest.fixture(autouse=True)
def _fresh_rate_limits(eager_tasks: None) -> Iterator[None]:
    """allauth's rate limits count per address in the cache; the e-mail is a task's."""
    cache.clear()
    yield
    cache.clear()


def _ask_for_a_link(page: Page, email: str) -> str:
    page.goto("/accounts/login/")
    with page.expect_navigation():
        page.click("a.td-forgot")
    page.fill("#id_email", email)
    with page.expect_navigation():
        page.click("form.td-reset-request button[type=submit]")
    expect(page.locator(".td-reset-sent")).to_be_visible()
    (message,) = [m for m in mail.outbox if "/accounts/password/reset/key/" in m.body]
    found = LINK.search(message.body)
    assert found, message.body
    return urlsplit(found.group(0)).path


def test_forgot_password_then_the_sign_in_still_asks_for_the_code(cast: Cast, page: Page) -> None:
    enrol_totp(cast.broker)
    path = _ask_for_a_link(page, cast.broker.email)
    assert mail.outbox[0].to == [cast.broker.email]

    page.goto(path)
    page.fill("#id_password1", NEW_PASSWORD)
    page.fill("#id_password2", NEW_PASSWORD)
    with page.expect_navigation():
        page.click("form.td-reset-password button[type=submit]")
    expect(page.locator(".td-reset-done")).to_be_visible()

    with page.expect_navigation():
        page.click(".td-auth-card a.btn-primary")  # "Sign in"
    sign_in(page, "broker", NEW_PASSWORD, second_factor=False)
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    enter_code(page, totp_code(cast.broker))
    expect(page).to_have_url(re.compile(r"/deals/$"))

    # The link again: used, and said so.
    page.goto(path)
    expect(page.locator(".td-token-fail")).to_be_visible()


def test_a_second_browser_gets_a_new_device_email_once(
    cast: Cast, page: Page, browser: Browser, live_server: Any, eager_tasks: None
) -> None:
    def new_device_mails() -> list[Any]:
        return [m for m in mail.outbox if "new device" in m.subject]

    sign_in(page, "broker", PASSWORD)
    sign_out(page)
    assert not new_device_mails()  # the account's first device

    other = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="en-GB")
    try:
        second = other.new_page()
        sign_in(second, "broker", PASSWORD)
        expect(second).to_have_url(re.compile(r"/deals/$"))
        (message,) = new_device_mails()
        assert message.to == [cast.broker.email]
        assert "Chrome · Linux" in message.body
        assert "/accounts/password/" in message.body
        sign_out(second)
        sign_in(second, "broker", PASSWORD)
        expect(second).to_have_url(re.compile(r"/deals/$"))
        assert len(new_device_mails()) == 1  # this browser is known now
    finally:
        other.close()
    sign_in(page, "broker", PASSWORD)
    assert len(new_device_mails()) == 1  # and so is the first


def _old_data_keys(settings: Any) -> None:
    old = f"k1:{base64.urlsafe_b64encode(os.urandom(32)).decode()}"
    settings.TRANSFERDESK_MASTER_KEYS = old
    for _ in range(3):
        DataKey.generate(purpose=DataKeyPurpose.CUSTOMER)
    settings.TRANSFERDESK_MASTER_KEYS = (
        f"k2:{base64.urlsafe_b64encode(os.urandom(32)).decode()},{old}"
    )


def test_an_administrator_re_wraps_the_keys_after_giving_the_factor_again(
    cast: Cast, page: Page, settings: Any
) -> None:
    _old_data_keys(settings)
    sign_in(page, "admin", PASSWORD)
    page.goto("/accounts/keys/")
    expect(page.locator(".td-pending")).to_have_text("3")

    # Eleven minutes later (the recorded sign-in moved back, not waited for).
    session = Session.objects.get()
    engine = Session.get_session_store_class()(session_key=session.session_key)
    engine.update(session.get_decoded())
    age_second_factor(engine, 11 * 60)
    engine.save()

    with page.expect_navigation():
        page.click(".td-confirm button[type=submit]")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/reauthenticate/\?next="))
    expect(page.get_by_text("give your second factor again")).to_be_visible()
    assert DataKey.objects.needing_rotation("k2").count() == 3
    enter_code(page, totp_code(cast.admin))
    expect(page).to_have_url(re.compile(r"/accounts/keys/$"))
    expect(page.get_by_text("3 data key(s) re-wrapped under k2")).to_be_visible()
    expect(page.locator(".td-pending")).to_have_text("0")
    assert not DataKey.objects.needing_rotation("k2").exists()


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_screenshots_of_the_reset_and_keyring_pages(
    cast: Cast, page: Page, live_server: Any, settings: Any, language: str
) -> None:
    use_language(page, live_server.url, language)
    page.goto("/accounts/login/")
    screenshot(page, "sign-in-with-reset-link")
    page.goto("/accounts/password/reset/")
    screenshot(page, "password-reset-request")
    path = _ask_for_a_link(page, cast.compliance.email)
    screenshot(page, "password-reset-sent")
    page.goto(path)
    expect(page.locator("form.td-reset-password")).to_be_visible()
    screenshot(page, "password-reset-new-password")
    page.goto("/accounts/password/reset/key/1-not-a-token/")
    expect(page.locator(".td-token-fail")).to_be_visible()
    screenshot(page, "password-reset-link-unusable")

    _old_data_keys(settings)
    sign_in(page, "admin", PASSWORD)
    page.goto("/accounts/keys/")
    screenshot(page, "keyring")
    if language == "zh-hans":
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
        expect(page.get_by_text("当前主密钥")).to_be_visible()
