"""Single sign-on in a real browser (issue 15) against a real OpenID Connect provider: allauth's
own provider app in a second Django process on loopback (tests/support/oidc_provider), with its
own sign-in page, users and RS256-signed ID tokens. Nothing is mocked: the product's allauth
client reads the provider's discovery document, sends the browser there, exchanges the code and
reads the ID token and userinfo as it would with a company's identity provider.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from accounts.choices import Role
from customers import sso
from tests.e2e.browser import enter_code, screenshot, sign_in, use_language
from tests.factories import PASSWORD as FACTORY_PASSWORD
from tests.factories import Cast, UserFactory
from tests.support.mfa import enrol_totp, totp_code
from tests.support.oidc_provider import PASSWORD, IdentityProvider, ProviderUser
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.browser

PORTAL = re.compile(r"/portal/$")
CODE_STEP = re.compile(r"/accounts/2fa/authenticate/$")


@pytest.fixture(scope="session")
def identity_provider(live_server: Any, tmp_path_factory: Any) -> Iterator[IdentityProvider]:
    """The provider, for the whole session, with the people of the tests below."""
    users = [
        ProviderUser("ann", "buyer@example.test"),  # the cast's buyer; password only
        ProviderUser("mia", "mia@example.test", amr=["pwd", "otp"]),  # with a second factor
        ProviderUser("uma", "unknown@example.test"),  # no TransferDesk account
        ProviderUser("vic", "vic@example.test", verified=False),
        ProviderUser("oto", "buyer2@example.test"),  # an account of another organisation
    ]
    callback = f"{live_server.url}/accounts/oidc/buyer-a/login/callback/"
    with IdentityProvider(tmp_path_factory.mktemp("idp"), users, [callback]) as provider:
        yield provider


@pytest.fixture
def buyer_sso(cast: Cast, identity_provider: IdentityProvider) -> IdentityProvider:
    """Buyer A's compliance contact has set its identity provider up."""
    sso.configure(
        actor=cast.compliance,
        organization=cast.buyer_org,
        name="Buyer A sign-in",
        server_url=identity_provider.url,
        client_id=identity_provider.client_id,
        client_secret=identity_provider.client_secret,
    )
    return identity_provider


def sign_in_at_provider(page: Page, username: str, *, via_field: bool = False) -> None:
    """From TransferDesk's sign-in page to the provider's, and back."""
    if via_field:
        page.goto("/accounts/login/")
        page.fill("#id_organisation", "buyer-a")
        with page.expect_navigation():
            page.click("form.td-sso-organisation button[type=submit]")
    else:
        page.goto("/accounts/login/?organisation=buyer-a")
    with page.expect_navigation(url=re.compile(r"127\.0\.0\.1")):
        page.click("form.td-sso button[type=submit]")
    page.fill("#id_login", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation(url=re.compile(r"//localhost:")):
        page.click("form button[type=submit]")


def test_a_buyer_signs_in_at_their_provider_and_lands_on_their_data_room(
    cast: Cast, buyer_sso: IdentityProvider, page: Page
) -> None:
    """No amr from the provider: the buyer (who has an authenticator app) gives its code here."""
    enrol_totp(cast.buyer)
    sign_in_at_provider(page, "ann", via_field=True)
    expect(page).to_have_url(CODE_STEP)
    enter_code(page, totp_code(cast.buyer))
    expect(page).to_have_url(PORTAL)
    event = AuditEvent.objects.filter(action=AuditAction.SSO_SIGN_IN).get()
    assert event.actor_id == cast.buyer.pk and event.details["second_factor"] is False


def test_a_provider_asserting_a_second_factor_is_not_asked_for_one_again(
    cast: Cast, buyer_sso: IdentityProvider, page: Page
) -> None:
    mia = UserFactory(
        username="mia", email="mia@example.test", organization=cast.buyer_org, roles=[Role.BUYER]
    )
    enrol_totp(mia)
    sign_in_at_provider(page, "mia")
    expect(page).to_have_url(PORTAL)
    event = AuditEvent.objects.filter(action=AuditAction.SSO_SIGN_IN).get()
    assert event.details["second_factor"] is True and "otp" in event.details["amr"]


@pytest.mark.parametrize(
    ("username", "message", "reason"),
    [
        (
            "uma",
            "your organisation has no TransferDesk account for unknown@example.test",
            "unknown",
        ),
        ("vic", "has not verified the e-mail address vic@example.test", "unverified"),
        ("oto", "your organisation has no TransferDesk account for buyer2@example.test", "unknown"),
    ],
    ids=["unknown", "unverified", "other-organisation"],
)
def test_who_cannot_be_matched_is_refused_on_the_sign_in_page(
    cast: Cast, buyer_sso: IdentityProvider, page: Page, username: str, message: str, reason: str
) -> None:
    UserFactory(username="vic", email="vic@example.test", organization=cast.buyer_org)
    sign_in_at_provider(page, username)
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_text(message)).to_be_visible()
    page.goto("/portal/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))  # not signed in
    refusal = AuditEvent.objects.filter(action=AuditAction.SSO_REFUSED).get()
    assert refusal.details["reason"] == reason


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_screenshots_of_the_sign_in_page_with_single_sign_on(
    cast: Cast, buyer_sso: IdentityProvider, page: Page, live_server: Any, language: str
) -> None:
    use_language(page, live_server.url, language)
    page.goto("/accounts/login/?organisation=buyer-a")
    expect(page.locator("form.td-sso button")).to_contain_text("Buyer A sign-in")
    if language == "en":
        expect(page.get_by_role("button", name="Sign in with Buyer A sign-in")).to_be_visible()
    screenshot(page, "sign-in-sso")
    page.goto("/accounts/login/")
    expect(page.locator("#id_organisation")).to_be_visible()
    screenshot(page, "sign-in-sso-field")
    sign_in_at_provider(page, "uma")
    expect(page.locator(".td-messages .alert-danger")).to_contain_text("unknown@example.test")
    screenshot(page, "sign-in-sso-refused")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_compliance_sets_single_sign_on_up_on_its_page(
    cast: Cast, page: Page, live_server: Any, language: str
) -> None:
    use_language(page, live_server.url, language)
    sign_in(page, "compliance", FACTORY_PASSWORD)
    page.goto("/customers/sign-on/buyer-a/")
    page.fill("#id_name", "Buyer A sign-in")
    page.fill("#id_server_url", "https://idp.buyer-a.example.test")
    page.fill("#id_client_id", "transferdesk")
    page.fill("#id_client_secret", "from-the-provider")
    screenshot(page, "sso-setup")
    with page.expect_navigation():
        page.click("form.td-identity-provider-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/customers/sign-on/$"))
    expect(page.locator("table.td-identity-providers")).to_contain_text("Buyer A sign-in")
    screenshot(page, "sso-organisations")
    assert AuditEvent.objects.filter(action=AuditAction.SSO_CONFIGURED).count() == 1
