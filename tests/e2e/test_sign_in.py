"""Signing in, landing, switching language, signing out and locking out, in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import screenshot, sign_in, sign_out
from tests.e2e.conftest import ConsoleWatch
from tests.factories import PASSWORD, Cast, UserFactory

pytestmark = pytest.mark.browser


def test_anonymous_visitor_of_root_sees_the_sign_in_page(page: Page) -> None:
    page.goto("/")

    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_visible()


@pytest.mark.parametrize(
    ("username", "path", "heading", "role"),
    [
        ("broker", "/deals/", "Deals", "Broker"),
        ("broker2", "/deals/", "Deals", "Broker"),
        ("compliance", "/compliance/", "Compliance", "Compliance officer"),
        ("buyer", "/portal/", "Data room", "Buyer"),
        ("buyer2", "/portal/", "Data room", "Buyer"),
    ],
)
def test_each_role_signs_in_and_lands_on_its_own_page(
    cast: Cast, page: Page, username: str, path: str, heading: str, role: str
) -> None:
    sign_in(page, username, PASSWORD)

    expect(page).to_have_url(re.compile(f"{re.escape(path)}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    # The navigation leads with the role's own page, marked as current.
    expect(page.locator("#td-nav .navbar-nav .nav-link").first).to_have_text(heading)
    expect(page.locator("#td-nav .nav-link.active")).to_have_text(heading)
    # The user menu says who is signed in, and as what.
    expect(page.locator(".td-user-role")).to_have_text(role)


def test_admin_signs_in_and_lands_on_the_django_admin(cast: Cast, page: Page) -> None:
    sign_in(page, "admin", PASSWORD)

    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()


def test_wrong_password_is_refused_with_a_clear_message(cast: Cast, page: Page) -> None:
    sign_in(page, "broker", "not-the-password")

    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("alert")).to_contain_text("do not match")
    expect(page.get_by_label("Username")).to_have_value("broker")


def test_language_switcher_turns_the_page_into_chinese_and_back(cast: Cast, page: Page) -> None:
    sign_in(page, "broker", PASSWORD)

    page.get_by_role("button", name="简体中文").click()

    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page).to_have_url(re.compile(r"/deals/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("交易")
    expect(page.get_by_text("尚无分配给您的交易")).to_be_visible()
    expect(page.locator(".td-user-role")).to_have_text("经纪人")
    expect(page.get_by_role("button", name="简体中文")).to_have_attribute("aria-pressed", "true")

    # The choice sticks for the next page.
    page.goto("/accounts/password/")
    expect(page.get_by_role("heading", level=1)).to_have_text("修改密码")

    page.get_by_role("button", name="English").click()

    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Change password")


def test_language_switcher_works_before_signing_in(cast: Cast, page: Page) -> None:
    page.goto("/accounts/login/")

    page.get_by_role("button", name="简体中文").click()

    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    expect(page.get_by_label("用户名")).to_be_visible()
    sign_in(page, "buyer", PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("数据室")


def test_sign_out_ends_the_session(cast: Cast, page: Page) -> None:
    sign_in(page, "compliance", PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Compliance")

    page.locator(".td-user").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    sign_out(page)

    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/compliance/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/compliance/$"))


def test_sixth_attempt_shows_the_lock_out_page_even_with_the_right_password(
    cast: Cast, page: Page, console: ConsoleWatch
) -> None:
    for _ in range(5):
        sign_in(page, "buyer", "not-the-password")
    console.allow(r"status of 4\d\d")  # the lock-out page answers with an error status

    sign_in(page, "buyer", "not-the-password")  # the sixth attempt

    expect(page.get_by_role("heading", name="This account is locked")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Try again in \d+ minutes"))).to_be_visible()

    sign_in(page, "buyer", PASSWORD)  # and the right password changes nothing

    expect(page.get_by_role("heading", name="This account is locked")).to_be_visible()
    expect(page.get_by_text("even with the right password")).to_be_visible()
    expect(page.locator(".td-user")).to_have_count(0)
    page.get_by_role("link", name="Back to sign in").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_failed_attempts_before_the_limit_keep_the_sign_in_form(cast: Cast, page: Page) -> None:
    for _ in range(4):
        sign_in(page, "buyer", "not-the-password")
        expect(page.get_by_role("alert")).to_contain_text("do not match")

    sign_in(page, "buyer", PASSWORD)

    expect(page.get_by_role("heading", level=1)).to_have_text("Data room")


def test_password_change_through_the_form_takes_effect(cast: Cast, page: Page) -> None:
    new_password = "a much longer passphrase 42"
    sign_in(page, "broker2", PASSWORD)
    page.locator(".td-user").click()
    page.get_by_role("link", name="Change password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Change password")

    page.get_by_label("Old password").fill(PASSWORD)
    page.locator("#id_new_password1").fill(new_password)
    page.get_by_label("New password confirmation").fill(new_password)
    page.get_by_role("button", name="Change password").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Password changed")
    screenshot(page, "password-changed")
    sign_out(page)
    sign_in(page, "broker2", new_password)
    expect(page.get_by_role("heading", level=1)).to_have_text("Deals")


def test_password_change_shows_what_is_wrong(cast: Cast, page: Page) -> None:
    sign_in(page, "broker2", PASSWORD)
    page.goto("/accounts/password/")

    page.get_by_label("Old password").fill(PASSWORD)
    page.locator("#id_new_password1").fill("short")
    page.get_by_label("New password confirmation").fill("short")
    page.get_by_role("button", name="Change password").click()

    # Among the validators' messages (the factory's random first name may also be "too
    # similar" to the new password, and come first): the length one.
    expect(page.locator(".invalid-feedback", has_text="too short").first).to_be_visible()
    expect(page.locator("#id_new_password2")).to_have_class(re.compile(r"\bis-invalid\b"))


def test_user_without_a_role_is_told_to_ask_an_administrator(
    cast: Cast, page: Page, console: ConsoleWatch
) -> None:
    UserFactory(username="newcomer", organization=cast.broker_firm)
    console.allow(r"status of 403")  # the page answers 403: there is nothing to show yet

    sign_in(page, "newcomer", PASSWORD)

    expect(page.get_by_role("heading", level=1)).to_have_text("No role yet")
    expect(page.get_by_text("Ask an administrator")).to_be_visible()
    expect(page.locator(".td-user-role")).to_have_text("No role")
    expect(page.locator("#td-nav .navbar-nav .nav-link")).to_have_count(0)
    screenshot(page, "no-role")
