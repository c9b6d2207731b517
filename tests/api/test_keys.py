"""The API keys pages and the rules of issue 15 for machine credentials: a key is issued only
after a fresh second factor, shown once, stored as a hash, revoked at once; a key never stands
in for a person, and a person's session never calls the API."""

from __future__ import annotations

import time

import pytest
from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY
from django.contrib.sessions.models import Session
from django.urls import reverse

from api.models import OrganizationAPIKey
from tests.api.conftest import auth
from tests.support.mfa import age_second_factor, enrol_totp, totp_code
from transferdesk.principals import ApiScope
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

KEYS = "/api/keys/"
NEW = "/api/keys/new/"


def form(cast, **changes):
    return {
        "organization": cast.seller.pk,
        "name": "Seller CRM",
        "scopes": [ApiScope.STAGES_READ, ApiScope.CUSTOMERS_WRITE],
        **changes,
    }


def test_compliance_creates_a_key_and_sees_it_once(client, cast):
    client.force_login(cast.compliance)

    created = client.post(NEW, form(cast))

    assert created.status_code == 200
    key = OrganizationAPIKey.objects.get()
    text = created.context["plaintext"]
    assert text.startswith(f"{key.prefix}.") and text in created.text
    assert "no-store" in created["Cache-Control"]
    assert key.scopes == ["customers.write", "stages.read"]
    assert key.created_by == cast.compliance and key.organization == cast.seller
    listed = client.get(KEYS)
    assert key.prefix in listed.text and text not in listed.text
    event = AuditEvent.objects.get(action=AuditAction.API_KEY_CREATED)
    assert (event.actor, event.object_id) == (cast.compliance, key.prefix)
    assert event.details == {"organization": cast.seller.pk, "scopes": key.scopes}


def test_creating_a_key_with_a_stale_factor_asks_for_it_then_shows_the_key(client, cast):
    enrol_totp(cast.compliance)
    client.force_login(cast.compliance)
    session = client.session
    age_second_factor(session, 11 * 60)
    session.save()

    asked = client.post(NEW, form(cast))

    assert asked.status_code == 302
    assert asked["Location"].startswith(reverse("mfa_reauthenticate"))
    assert not OrganizationAPIKey.objects.exists()
    shown = client.post(asked["Location"], {"code": totp_code(cast.compliance)})
    assert shown.status_code == 200
    key = OrganizationAPIKey.objects.get()
    assert key.name == "Seller CRM" and f"{key.prefix}." in shown.text


def test_an_administrator_manages_keys_too(client, cast):
    client.force_login(cast.admin)
    assert client.get(KEYS).status_code == 200
    assert client.post(NEW, form(cast, organization=cast.buyer_org.pk)).status_code == 200


@pytest.mark.parametrize("actor", ["broker", "buyer", "other_buyer"])
def test_other_people_may_not_see_create_or_revoke_keys(client, cast, issue, actor):
    key, _text = issue(cast.seller)
    client.force_login(getattr(cast, actor))
    assert client.get(KEYS).status_code == 403
    assert client.post(NEW, form(cast)).status_code == 403
    assert client.post(reverse("api:key_revoke", args=[key.prefix])).status_code == 403
    assert OrganizationAPIKey.objects.filter(revoked=False).count() == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scopes": ["everything"]}, "Choose scopes from the list."),
        ({"scopes": []}, "This field is required."),
        ({"organization": "999999"}, "Choose an organisation from the list."),
        ({"name": "x" * 51}, "at most 50 characters"),
        ({"name": "<script>alert(1)</script>", "scopes": ["x" * 5000]}, "Choose scopes"),
    ],
)
def test_a_bad_form_is_refused_with_a_message_and_creates_nothing(client, cast, changes, message):
    client.force_login(cast.compliance)
    response = client.post(NEW, form(cast, **changes))
    assert response.status_code == 400
    assert message in response.text
    assert "<script>alert(1)</script>" not in response.text
    assert not OrganizationAPIKey.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.API_KEY_CREATED).exists()


def test_keys_are_for_sellers_and_buyers_only(client, cast):
    client.force_login(cast.compliance)
    response = client.post(NEW, form(cast, organization=cast.broker_firm.pk))
    assert response.status_code == 400
    assert not OrganizationAPIKey.objects.exists()


def test_revoking_on_the_page_stops_the_key_and_is_an_event(client, api, cast, issue):
    key, text = issue(cast.seller)
    client.force_login(cast.compliance)

    response = client.post(reverse("api:key_revoke", args=[key.prefix]), follow=True)

    assert "revoked" in response.text
    key.refresh_from_db()
    assert key.revoked and key.revoked_by == cast.compliance and key.revoked_at
    assert api.get("/api/v1/deals/", **auth(text)).status_code == 401
    event = AuditEvent.objects.get(action=AuditAction.API_KEY_REVOKED)
    assert (event.actor, event.object_id) == (cast.compliance, key.prefix)
    assert client.post(reverse("api:key_revoke", args=["nosuchky"])).status_code == 404


# --- machine credentials never stand in for a person (issue 15) ------------------------------


def test_a_persons_session_with_a_fresh_second_factor_does_not_call_the_api(client, cast):
    client.force_login(cast.compliance)  # a session that passed the second factor
    response = client.get("/api/v1/deals/")
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/deals/", "/compliance/", "/api/keys/", "/portal/"])
def test_a_key_alone_opens_no_web_page(client, cast, issue, path):
    _key, text = issue(cast.seller, scopes=list(ApiScope.values))
    response = client.get(path, **auth(text))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_an_api_call_makes_no_session(client, cast, issue):
    _key, text = issue(cast.seller)
    response = client.get("/api/v1/deals/", **auth(text))
    assert response.status_code == 200
    assert "sessionid" not in response.cookies
    assert not Session.objects.exists()
    # And the next request to a page, with the cookies the API left, is anonymous.
    assert client.get("/deals/")["Location"].startswith(reverse("accounts:login"))


def test_a_key_never_skips_the_second_factor_of_a_persons_sign_in(client, cast, issue):
    """A person signed in with a password only (the factor not given yet) who sends a key too
    is still led to the second factor: the key counts for nothing on the web side."""
    _key, text = issue(cast.seller, scopes=list(ApiScope.values))
    enrol_totp(cast.broker)
    client.force_login(cast.broker)
    session = client.session
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [
        {"method": "password", "at": time.time(), "username": "broker"}
    ]
    session.save()

    response = client.get("/deals/", **auth(text))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_reauthenticate"))


def test_the_keys_page_costs_the_same_queries_whatever_the_number_of_keys(
    client, cast, issue, django_assert_max_num_queries
):
    issue(cast.seller)
    client.force_login(cast.compliance)
    with django_assert_max_num_queries(20) as few:
        client.get(KEYS)
    for n in range(6):
        issue(cast.buyer_org if n % 2 else cast.seller, name=f"CRM {n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(KEYS).status_code == 200
