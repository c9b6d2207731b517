"""Second factors (issue 15): the policy, enrolment, recovery codes, lock-out on wrong codes,
and their audit events. TOTP codes are computed with pyotp, as an authenticator app would."""

from __future__ import annotations

import uuid

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
from django.urls import reverse

from customers.models import Organization
from tests.factories import PASSWORD
from tests.support.mfa import CODE_STEP, LOGIN, enrol_totp, sign_in, totp_code
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

FACTORS = "/accounts/2fa/"


def password_only(client, username, password=PASSWORD, **extra):
    """The password step alone, for a person with no factor yet."""
    return client.post(LOGIN, {"login": username, "password": password}, **extra)


def enrol_totp_through_the_page(client, on_commit):
    """What a person does on the enrolment page: scan the secret, type the app's code.
    (allauth announces the new factor once its transaction commits.)"""
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = client.session[SECRET_SESSION_KEY]
    with on_commit(execute=True):
        response = client.post(reverse("mfa_activate_totp"), {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302, response.content.decode()[:2000]
    return secret


def test_a_broker_without_a_factor_is_led_to_enrolment_not_to_customer_data(
    client, cast, django_capture_on_commit_callbacks
):
    response = password_only(client, "broker")
    assert response.status_code == 302
    assert "_auth_user_id" in client.session  # signed in with the password...
    for page in ("/customers/", "/deals/", "/"):
        refused = client.get(page)
        assert refused.status_code == 302
        assert refused["Location"] == FACTORS  # ...but led to enrolment, not to the data
    enrolment = client.get(FACTORS)
    assert enrolment.status_code == 200
    assert "needs a second factor before it can open customer data" in enrolment.text
    # The enrolment page itself is reachable: no dead end.
    enrol_totp_through_the_page(client, django_capture_on_commit_callbacks)
    assert client.get("/customers/").status_code == 200


def test_a_fragment_fetched_before_the_factor_gets_nothing_and_leaves_the_session_alone(
    client, cast
):
    """The bell's poll and the landing page's my-work fragment, fetched by htmx while the
    person is on the enrolment page: no redirect or message lands in the fragment or uses up
    the page's message, and the session is not written (a sign-in step replacing it would
    turn the poll into a 400)."""
    password_only(client, "broker")
    session_key = client.session.session_key
    for fragment in (reverse("notifications:bell"), reverse("work:top")):
        response = client.get(fragment, headers={"HX-Request": "true"})
        assert response.status_code == 204, fragment
        assert "Set-Cookie" not in response.headers and not response.cookies
    assert client.session.session_key == session_key
    assert client.get("/customers/")["Location"] == FACTORS  # a page is still led to enrol


def test_buyers_need_a_factor_unless_compliance_lifts_it_for_their_organisation(client, cast):
    password_only(client, "buyer")
    assert client.get("/portal/")["Location"] == FACTORS
    client.logout()

    compliance = type(client)()
    compliance.force_login(cast.compliance)
    url = reverse("accounts:buyer_second_factor", args=[cast.buyer_org.pk])
    assert compliance.post(url, {"required": "0"}).status_code == 302
    cast.buyer_org.refresh_from_db()
    assert cast.buyer_org.second_factor_required is False
    event = AuditEvent.objects.get(action=AuditAction.UPDATE, object_id=str(cast.buyer_org.pk))
    assert event.actor_id == cast.compliance.pk
    assert event.details == {"second_factor_required": False}
    # The page shows the policy with the button that changes it.
    page = compliance.get(reverse("accounts:staff_invitations")).text
    assert "Second factor for buyers" in page and "Require it" in page

    password_only(client, "buyer")
    assert client.get("/portal/").status_code == 200
    # Brokers are never covered by a buyer's policy, and a broker cannot change it.
    client.logout()
    password_only(client, "broker")
    assert client.get("/deals/")["Location"] == FACTORS
    broker = type(client)()
    broker.force_login(cast.broker)
    assert broker.post(url, {"required": "1"}).status_code == 403
    assert Organization.objects.get(pk=cast.buyer_org.pk).second_factor_required is False


def test_a_person_with_a_factor_gives_it_after_the_password(client, cast):
    secret = enrol_totp(cast.buyer)
    response = password_only(client, "buyer")
    assert response["Location"].startswith(CODE_STEP)
    assert "_auth_user_id" not in client.session  # not signed in on the password alone
    response = client.post(CODE_STEP, {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    assert client.get("/portal/").status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.SIGN_IN, actor=cast.buyer).count() == 1


def test_a_wrong_code_is_refused_and_counts_towards_the_lock_out(client, cast):
    enrol_totp(cast.broker)
    assert password_only(client, "broker")["Location"].startswith(CODE_STEP)
    statuses = [client.post(CODE_STEP, {"code": "000000"}).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]  # the fifth failure locks the account
    assert "_auth_user_id" not in client.session
    failures = AuditEvent.objects.filter(action=AuditAction.SIGN_IN_FAILED)
    assert failures.count() == 5
    assert {e.details["username"] for e in failures} == {"broker"}
    assert AuditEvent.objects.filter(action=AuditAction.ACCOUNT_LOCKED).count() == 1
    # Locked: neither the right code nor the right password gets in now.
    assert client.post(CODE_STEP, {"code": totp_code(cast.broker)}).status_code == 429
    assert "_auth_user_id" not in client.session
    elsewhere = type(client)()  # a new sign-in from the same address: the lock-out page
    assert password_only(elsewhere, "broker").status_code == 429


def test_enrolling_removing_and_using_a_recovery_code_are_audit_events(
    client, cast, django_capture_on_commit_callbacks
):
    password_only(client, "broker")
    enrol_totp_through_the_page(client, django_capture_on_commit_callbacks)
    totp = Authenticator.objects.get(user=cast.broker, type=Authenticator.Type.TOTP)
    added = AuditEvent.objects.filter(action=AuditAction.FACTOR_ADDED, actor=cast.broker)
    assert added.filter(details__type="totp").count() == 1

    # Recovery codes: shown once generated; one of them works once in place of the app.
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("mfa_generate_recovery_codes")).status_code == 302
    codes = (
        Authenticator.objects.get(user=cast.broker, type=Authenticator.Type.RECOVERY_CODES)
        .wrap()
        .get_unused_codes()
    )
    client.logout()
    password_only(client, "broker")
    assert client.post(CODE_STEP, {"code": codes[0]}).status_code == 302
    used = AuditEvent.objects.filter(action=AuditAction.RECOVERY_CODE_USED, actor=cast.broker)
    assert used.count() == 1
    client.logout()
    password_only(client, "broker")
    again = client.post(CODE_STEP, {"code": codes[0]})
    assert again.status_code == 200 and "_auth_user_id" not in client.session

    # Removing the app (the signed-in person, just after giving it): an event too.
    sign_in(client, "broker", PASSWORD)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("mfa_deactivate_totp"))
    assert response.status_code == 302
    assert not Authenticator.objects.filter(pk=totp.pk).exists()
    removed = AuditEvent.objects.filter(action=AuditAction.FACTOR_REMOVED, actor=cast.broker)
    assert removed.filter(details__type="totp").exists()
    # …and the next page says how to sign out the sessions that may hold the old factor.
    page = client.get(response["Location"], follow=True).text
    assert "Your second factors changed." in page and "Sessions page" in page


def test_a_buyer_let_in_without_a_factor_must_still_add_one_to_export(client, cast):
    Organization.objects.filter(pk=cast.buyer_org.pk).update(second_factor_required=False)
    password_only(client, "buyer")
    assert client.get("/portal/").status_code == 200
    url = reverse("portal:export", kwargs={"pk": uuid.uuid4(), "fmt": "csv"})
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == FACTORS
    assert "This action needs a second factor" in client.get(FACTORS).text
