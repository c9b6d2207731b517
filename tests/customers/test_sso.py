"""Single sign-on (issue 15), below the browser: the whole OpenID Connect exchange against the
real test provider (tests/support/oidc_provider: allauth's provider app in its own process),
with Django's test client as the browser on TransferDesk's side; the mapping rule and the
second-factor reading on their own; compliance's setup page; the sign-in page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount, SocialApp
from django.core.exceptions import PermissionDenied
from django.test import Client

from accounts.choices import Role
from accounts.mfa import last_factor_at
from customers import sso
from customers.models import IdentityProvider as OrganizationIdentityProvider
from tests.factories import Cast, UserFactory
from tests.support.mfa import enrol_totp, passed_second_factor
from tests.support.oidc_provider import IdentityProvider, ProviderUser
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

CALLBACK = "http://testserver/accounts/oidc/buyer-a/login/callback/"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: Any) -> Iterator[IdentityProvider]:
    users = [
        ProviderUser("ann", "Buyer@Example.test"),  # the cast's buyer (case differs)
        ProviderUser("mia", "mia@example.test", amr=["pwd", "hwk"]),
        ProviderUser("pia", "pia@example.test", acr="urn:example:mfa"),
        ProviderUser("uma", "unknown@example.test"),
        ProviderUser("vic", "vic@example.test", verified=False),
        ProviderUser("oto", "buyer2@example.test"),
    ]
    with IdentityProvider(tmp_path_factory.mktemp("idp"), users, [CALLBACK]) as idp:
        yield idp


@pytest.fixture
def link(cast: Cast, provider: IdentityProvider) -> OrganizationIdentityProvider:
    return sso.configure(
        actor=cast.compliance,
        organization=cast.buyer_org,
        name="Buyer A sign-in",
        server_url=provider.url,
        client_id=provider.client_id,
        client_secret=provider.client_secret,
    )


def sso_sign_in(client: Client, provider: IdentityProvider, username: str) -> Any:
    """Start at TransferDesk, sign in at the provider, come back: the callback's answer."""
    start = client.post("/accounts/oidc/buyer-a/login/")
    assert start.status_code == 302 and start["Location"].startswith(provider.url)
    callback = urlsplit(provider.sign_in(start["Location"], username))
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == CALLBACK
    return client.get(f"{callback.path}?{callback.query}")


def signed_in_user_id(client: Client) -> Any:
    return client.session.get("_auth_user_id")


# --- Through the real provider ---


def test_a_buyer_is_matched_by_verified_email_and_gives_their_second_factor_here(
    cast: Cast, link: Any, provider: IdentityProvider
) -> None:
    enrol_totp(cast.buyer)
    client = Client()
    answer = sso_sign_in(client, provider, "ann")
    assert answer.status_code == 302 and answer["Location"] == "/accounts/2fa/authenticate/"
    assert signed_in_user_id(client) is None  # not signed in before the code
    account = SocialAccount.objects.get()
    assert account.user == cast.buyer and account.provider == "buyer-a"
    event = AuditEvent.objects.get(action=AuditAction.SSO_SIGN_IN)
    assert event.actor_id == cast.buyer.pk and event.details["second_factor"] is False


def test_a_buyer_without_a_factor_is_led_to_enrolment(
    cast: Cast, link: Any, provider: IdentityProvider
) -> None:
    client = Client()
    answer = sso_sign_in(client, provider, "ann")
    assert str(signed_in_user_id(client)) == str(cast.buyer.pk)
    page = client.get(answer["Location"], follow=True)
    assert page.redirect_chain[-1][0] == "/accounts/2fa/"
    assert "needs a second factor" in page.content.decode()


def test_an_amr_second_factor_satisfies_the_policy(
    cast: Cast, link: Any, provider: IdentityProvider
) -> None:
    mia = UserFactory(username="mia", email="mia@example.test", organization=cast.buyer_org)
    mia.groups.add(*cast.buyer.groups.all())
    enrol_totp(mia)  # a factor here too: allauth's code step is still skipped
    client = Client()
    answer = sso_sign_in(client, provider, "mia")
    assert str(signed_in_user_id(client)) == str(mia.pk)
    assert client.get(answer["Location"], follow=True).redirect_chain[-1][0] == "/portal/"
    assert client.get("/portal/").status_code == 200


@pytest.mark.parametrize("configured", [True, False])
def test_an_acr_counts_only_when_the_organisation_named_it(
    cast: Cast, link: Any, provider: IdentityProvider, configured: bool
) -> None:
    link.second_factor_acr = "urn:example:mfa" if configured else "urn:example:other"
    link.save()
    pia = UserFactory(username="pia", email="pia@example.test", organization=cast.buyer_org)
    pia.groups.add(*cast.buyer.groups.all())
    client = Client()
    answer = sso_sign_in(client, provider, "pia")
    landed = client.get(answer["Location"], follow=True).redirect_chain[-1][0]
    assert landed == ("/portal/" if configured else "/accounts/2fa/")


@pytest.mark.parametrize(
    ("username", "reason", "text"),
    [
        ("uma", "unknown", "has no TransferDesk account for unknown@example.test"),
        ("vic", "unverified", "has not verified the e-mail address vic@example.test"),
        ("oto", "unknown", "has no TransferDesk account for buyer2@example.test"),
    ],
)
def test_who_cannot_be_matched_is_refused_and_nothing_is_created(
    cast: Cast, link: Any, provider: IdentityProvider, username: str, reason: str, text: str
) -> None:
    UserFactory(username="vic", email="vic@example.test", organization=cast.buyer_org)
    users_before = type(cast.buyer).objects.count()
    client = Client()
    answer = sso_sign_in(client, provider, username)
    assert answer.status_code == 302 and answer["Location"] == "/accounts/login/"
    page = client.get(answer["Location"])
    assert text in page.content.decode()
    assert signed_in_user_id(client) is None
    assert not SocialAccount.objects.exists()
    assert type(cast.buyer).objects.count() == users_before
    assert AuditEvent.objects.get(action=AuditAction.SSO_REFUSED).details["reason"] == reason


def test_an_identity_already_linked_to_someone_else_is_refused(
    cast: Cast, link: Any, provider: IdentityProvider
) -> None:
    client = Client()
    sso_sign_in(client, provider, "ann")
    SocialAccount.objects.update(user=cast.other_buyer)  # e.g. the account changed hands
    client = Client()
    answer = sso_sign_in(client, provider, "ann")
    assert answer["Location"] == "/accounts/login/" and signed_in_user_id(client) is None
    refusal = AuditEvent.objects.get(action=AuditAction.SSO_REFUSED)
    assert refusal.details["reason"] == "linked_elsewhere"


def test_an_error_from_the_provider_comes_back_to_the_sign_in_page(cast: Cast, link: Any) -> None:
    client = Client()
    answer = client.get("/accounts/oidc/buyer-a/login/callback/?error=access_denied&state=x")
    assert answer.status_code == 302 and answer["Location"] == "/accounts/login/"
    assert "did not complete" in client.get("/accounts/login/").content.decode()


# --- The rule on its own ---


@pytest.mark.parametrize(
    ("amr", "acr", "expected"),
    [
        (["pwd", "mfa"], "", True),
        (["pwd", "otp"], "", True),
        (["hwk"], "", True),
        (["swk"], "", True),
        ("otp", "", True),
        (["pwd"], "", False),
        ([], "", False),
        (["pwd"], "gold", True),
        (["pwd"], "silver", False),
    ],
)
def test_the_second_factor_a_token_asserts(amr: Any, acr: str, expected: bool) -> None:
    extra = {"id_token": {"amr": amr, "acr": acr}}
    assert sso.second_factor_asserted(extra, frozenset({"gold"}))[0] is expected


def test_a_verified_address_in_the_userinfo_is_what_counts() -> None:
    assert sso.asserted_email({"userinfo": {"email": "a@x.test", "email_verified": True}}) == (
        "a@x.test",
        True,
    )
    assert sso.asserted_email({"userinfo": {"email": "a@x.test"}})[1] is False
    assert sso.asserted_email({"id_token": {"email": "a@x.test", "email_verified": "true"}})[1]


def test_the_mapping_refuses_inactive_and_ambiguous_accounts(cast: Cast) -> None:
    extra = {"id_token": {"email": "same@example.test", "email_verified": True}}
    with pytest.raises(sso.Refusal):
        sso.resolve_account(cast.buyer_org, extra)
    one = UserFactory(username="one", email="same@example.test", organization=cast.buyer_org)
    assert sso.resolve_account(cast.buyer_org, extra) == one
    UserFactory(username="two", email="SAME@example.test", organization=cast.buyer_org)
    with pytest.raises(sso.Refusal, match="ambiguous"):
        sso.resolve_account(cast.buyer_org, extra)
    type(one).objects.filter(username="two").update(is_active=False)
    type(one).objects.filter(username="one").update(is_active=False)
    with pytest.raises(sso.Refusal, match="unknown"):
        sso.resolve_account(cast.buyer_org, extra)


# --- Compliance's setup ---


def test_only_compliance_sets_single_sign_on_up_and_it_is_recorded_without_the_secret(
    cast: Cast,
) -> None:
    with pytest.raises(PermissionDenied):
        sso.configure(
            actor=cast.broker,
            organization=cast.buyer_org,
            name="x",
            server_url="https://idp.example.test",
            client_id="c",
            client_secret="s",
        )
    client = Client()
    client.force_login(cast.compliance)
    page = "/customers/sign-on/buyer-a/"
    data = {
        "name": "Buyer A sign-in",
        "server_url": "https://idp.example.test/realms/a/",
        "client_id": "transferdesk",
        "client_secret": "very-secret-value",
        "second_factor_acr": " gold  platinum ",
    }
    assert client.post(page, data).status_code == 302
    link = OrganizationIdentityProvider.objects.select_related("app").get()
    assert link.app.settings["server_url"] == "https://idp.example.test/realms/a"
    assert link.app.secret == "very-secret-value" and link.acr_values == {"gold", "platinum"}
    event = AuditEvent.objects.get(action=AuditAction.SSO_CONFIGURED)
    assert "very-secret-value" not in str(event.details)
    # A change with the secret left empty keeps it.
    assert client.post(page, {**data, "client_secret": "", "name": "Renamed"}).status_code == 302
    assert SocialApp.objects.get().secret == "very-secret-value"
    assert "Renamed" in client.get("/customers/sign-on/").content.decode()
    assert client.post(page, {"remove": "1"}).status_code == 302
    assert not SocialApp.objects.exists() and not OrganizationIdentityProvider.objects.exists()

    broker = Client()
    broker.force_login(cast.broker)
    assert broker.get("/customers/sign-on/").status_code == 403
    assert broker.post(page, data).status_code == 403
    assert not SocialApp.objects.exists()


@pytest.mark.parametrize(
    "hostile",
    [
        {"name": "x" * 500},
        {"server_url": "javascript:alert(1)"},
        {"client_id": "<script>" * 100},
        {"client_secret": ""},
    ],
)
def test_the_setup_form_refuses_hostile_input_whole(cast: Cast, hostile: dict[str, str]) -> None:
    client = Client()
    client.force_login(cast.compliance)
    data = {
        "name": "Buyer A sign-in",
        "server_url": "https://idp.example.test",
        "client_id": "transferdesk",
        "client_secret": "s",
        **hostile,
    }
    answer = client.post("/customers/sign-on/buyer-a/", data)
    assert answer.status_code == 400 and b"invalid-feedback" in answer.content
    assert not SocialApp.objects.exists()


def test_the_setup_needs_a_fresh_second_factor(cast: Cast) -> None:
    client = Client()
    client.force_login(cast.compliance)
    session = client.session
    passed_second_factor(session, cast.compliance, at=0)
    session.save()
    enrol_totp(cast.compliance)
    assert client.get("/customers/sign-on/buyer-a/")["Location"].startswith(
        "/accounts/2fa/reauthenticate/"
    )


# --- The sign-in page ---


def test_the_sign_in_page_offers_the_organisations_provider_and_allows_its_origin(
    cast: Cast, link: Any, provider: IdentityProvider
) -> None:
    page = Client().get("/accounts/login/?organisation=buyer-a")
    assert "Sign in with Buyer A sign-in" in page.content.decode()
    assert 'action="/accounts/oidc/buyer-a/login/"' in page.content.decode()
    assert f"form-action 'self' {provider.url}" in page["Content-Security-Policy"]
    plain = Client().get("/accounts/login/")
    assert "form-action 'self';" in plain["Content-Security-Policy"] + ";"
    assert 'id="id_organisation"' in plain.content.decode()


@pytest.mark.parametrize("typed", ["nobody", "<script>alert(1)</script>" * 20, "x" * 5000])
def test_an_organisation_without_single_sign_on_is_told_so(cast: Cast, typed: str) -> None:
    page = Client().get("/accounts/login/", {"organisation": typed})
    assert page.status_code == 200
    assert "No single sign-on is set up for this organisation" in page.content.decode()
    assert "<script>alert" not in page.content.decode()


def test_a_factor_given_at_the_provider_is_the_policys_marker(cast: Cast) -> None:
    """What ``record_identity_provider_factor`` leaves is what the policy reads."""
    from django.test import RequestFactory

    from accounts.mfa import record_identity_provider_factor

    request = RequestFactory().get("/")
    request.session = Client().session
    request.user = cast.buyer
    assert last_factor_at(request) is None
    record_identity_provider_factor(request, cast.buyer, provider="buyer-a", amr=["otp"], acr="")
    assert last_factor_at(request) is not None
    assert Role.BUYER in cast.buyer.role_names
