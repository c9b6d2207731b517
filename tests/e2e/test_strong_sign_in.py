"""Strong sign-in in a real browser (issue 15): a passkey through Chromium's virtual
authenticator (Chrome DevTools Protocol), TOTP codes computed with pyotp as an authenticator app
would, recovery codes, the lock-out on wrong codes, the policy and the step-up.

The live server answers on ``http://localhost:PORT``: a WebAuthn relying party id cannot be an
IP address, and ``MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN`` lets allauth accept http on localhost.
"""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from django.contrib.sessions.models import Session
from playwright.sync_api import Page, expect

from customers.services import organization_grant
from tests.e2e.browser import (
    enrol_totp_in_page,
    enter_code,
    screenshot,
    sign_in,
    sign_out,
    use_language,
)
from tests.e2e.conftest import ConsoleWatch
from tests.factories import PASSWORD, Cast, CustomerFactory
from tests.support.mfa import age_second_factor, totp_code

pytestmark = pytest.mark.browser

FACTORS = re.compile(r"/accounts/2fa/$")


def virtual_authenticator(page: Page) -> Any:
    """A platform authenticator with user verification (a phone's or laptop's passkey)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return cdp


def test_a_broker_enrols_a_passkey_and_signs_in_with_it_alone(
    cast: Cast, page: Page, live_server: Any
) -> None:
    assert live_server.url.startswith("http://localhost:")
    virtual_authenticator(page)
    sign_in(page, "broker", PASSWORD, second_factor=False)
    expect(page).to_have_url(FACTORS)  # no factor yet: led to enrolment
    expect(
        page.get_by_text("needs a second factor before it can open customer data")
    ).to_be_visible()

    page.goto("/accounts/2fa/webauthn/add/")
    page.fill("#id_name", "Laptop")
    page.check("#id_passwordless")
    with page.expect_navigation():
        page.click("#mfa_webauthn_add")
    # Enrolling counts as giving the factor: the customer pages open now.
    page.goto("/customers/")
    expect(page).to_have_url(re.compile(r"/customers/$"))
    sign_out(page)

    # Passwordless: the passkey alone, no username, no password.
    page.goto("/accounts/login/")
    with page.expect_navigation(url=re.compile(r"/deals/$")):
        page.click("#passkey_login")
    expect(page.get_by_role("heading", name="Deals", exact=True)).to_be_visible()


def test_a_buyer_enrols_totp_signs_in_with_a_code_and_a_recovery_code_works_once(
    cast: Cast, page: Page
) -> None:
    sign_in(page, "buyer", PASSWORD, second_factor=False)
    expect(page).to_have_url(FACTORS)
    secret = enrol_totp_in_page(page)
    # allauth then shows the recovery codes generated with the app.
    expect(page).to_have_url(re.compile(r"/accounts/2fa/recovery-codes/"))
    codes = page.input_value("#recovery_codes").split()
    assert len(codes) == 10
    page.goto("/portal/")
    expect(page.get_by_role("heading", name="Data room", exact=True)).to_be_visible()
    sign_out(page)

    sign_in(page, "buyer", PASSWORD, second_factor=False)
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    enter_code(page, pyotp.TOTP(secret).now())
    expect(page).to_have_url(re.compile(r"/portal/$"))
    sign_out(page)

    sign_in(page, "buyer", PASSWORD, second_factor=False)
    enter_code(page, codes[0])
    expect(page).to_have_url(re.compile(r"/portal/$"))
    sign_out(page)

    sign_in(page, "buyer", PASSWORD, second_factor=False)
    enter_code(page, codes[0])  # used already
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    expect(page.get_by_text("Incorrect code.")).to_be_visible()


def test_a_wrong_code_is_refused_and_counts_towards_the_lock_out(
    cast: Cast, page: Page, console: ConsoleWatch
) -> None:
    console.allow(r"status of 429")
    sign_in(page, "broker", PASSWORD)  # enrolled by the helper, signed in with the app
    sign_out(page)
    sign_in(page, "broker", PASSWORD, second_factor=False)
    for _ in range(4):
        enter_code(page, "000000")
        expect(page.get_by_text("Incorrect code.")).to_be_visible()
    enter_code(page, "000000")
    expect(page.get_by_text("This account is locked")).to_be_visible()
    # The right code changes nothing now: the account stays locked.
    page.goto("/accounts/2fa/authenticate/")
    enter_code(page, totp_code(cast.broker))
    expect(page.get_by_text("This account is locked")).to_be_visible()
    page.goto("/deals/")  # not signed in: back to the sign-in's pending code step
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    assert not any("_auth_user_id" in s.get_decoded() for s in Session.objects.all())


def test_a_broker_without_a_factor_cannot_open_a_customer_page(cast: Cast, page: Page) -> None:
    customer = CustomerFactory(organization=cast.seller, reference="C-9")
    organization_grant(
        actor=cast.admin, user=cast.broker, organization=cast.seller, permission="manage_customers"
    )
    sign_in(page, "broker", PASSWORD, second_factor=False)
    page.goto(f"/customers/records/{customer.pk}/")
    expect(page).to_have_url(FACTORS)
    expect(page.get_by_text("C-9")).to_have_count(0)
    # Not a dead end: the ways to enrol are on that page.
    expect(page.locator("a[href='/accounts/2fa/totp/activate/']")).to_be_visible()
    expect(page.locator("a[href='/accounts/2fa/webauthn/add/']")).to_be_visible()


def test_revealing_a_core_field_after_eleven_minutes_asks_for_the_factor_again(
    cast: Cast, page: Page
) -> None:
    for permission in ("manage_customers", "reveal_core"):
        organization_grant(
            actor=cast.admin, user=cast.broker, organization=cast.seller, permission=permission
        )
    customer = CustomerFactory(organization=cast.seller, reference="C-7", national_id="AB 123456 C")
    sign_in(page, "broker", PASSWORD)
    page.goto(f"/customers/records/{customer.pk}/")
    # Eleven minutes later (the recorded sign-in moved back, not waited for).
    session = Session.objects.get()
    store = session.get_decoded()
    engine = Session.get_session_store_class()(session_key=session.session_key)
    engine.update(store)
    age_second_factor(engine, 11 * 60)
    engine.save()

    page.select_option("#id_reason", index=1)
    with page.expect_navigation():
        page.click("form[action$='/reveal/'] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/reauthenticate/\?next="))
    expect(page.get_by_text("give your second factor again")).to_be_visible()
    expect(page.get_by_text("AB 123456 C")).to_have_count(0)
    enter_code(page, totp_code(cast.broker))
    expect(page.get_by_text("AB 123456 C")).to_be_visible()


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_screenshots_of_the_enrolment_pages(
    cast: Cast, page: Page, live_server: Any, language: str
) -> None:
    use_language(page, live_server.url, language)
    sign_in(page, "compliance", PASSWORD, second_factor=False)
    expect(page).to_have_url(FACTORS)
    screenshot(page, "mfa-factors")
    page.goto("/accounts/2fa/totp/activate/")
    expect(page.locator("img[src^='data:image/svg+xml']")).to_be_visible()  # the QR code
    screenshot(page, "mfa-totp-activate")
    page.goto("/accounts/2fa/webauthn/add/")
    screenshot(page, "mfa-passkey-add")
    if language == "zh-hans":
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
