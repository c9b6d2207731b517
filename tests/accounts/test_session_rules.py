"""The session rules of docs/security.md (OWASP ASVS 5.0 chapter V7): an absolute lifetime, a
new key on re-authentication, sessions ended by deactivation and by an administrator, signing
sessions out only with a fresh factor, and passwords that are not the product's name."""

from __future__ import annotations

import time

import pytest
from allauth.usersessions.models import UserSession
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from accounts.services import user_admin_save
from tests.factories import PASSWORD
from tests.support.mfa import age_second_factor, enrol_totp, totp_code
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

SESSIONS = "/accounts/sessions/"
HOUR = 3600


def signed_in(user, **extra) -> Client:
    """A browser of ``user`` whose session the sessions page knows (its first request)."""
    client = Client(**extra)
    client.force_login(user)
    assert client.get(SESSIONS).status_code == 200
    return client


def signed_in_hours_ago(client: Client, hours: float) -> None:
    session = client.session
    session["_td_signed_in_at"] = time.time() - hours * HOUR
    session.save()


def test_a_session_ends_twelve_hours_after_its_sign_in_however_active(cast):
    client = signed_in(cast.broker)
    signed_in_hours_ago(client, 11.9)
    assert client.get("/deals/").status_code == 200

    signed_in_hours_ago(client, 12)
    response = client.get("/deals/")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next=/deals/"
    page = client.get(response["Location"]).text
    assert "You were signed in for 12 hours, the longest a session lasts" in page
    assert client.get("/deals/").status_code == 302  # signed out, not only redirected once
    assert AuditEvent.objects.filter(action=AuditAction.SIGN_OUT, actor=cast.broker).exists()


def test_a_background_fragment_of_an_expired_session_reloads_the_page(cast):
    client = signed_in(cast.broker)
    signed_in_hours_ago(client, 13)
    response = client.get(reverse("notifications:bell"), HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Refresh"] == "true"
    assert client.get("/deals/").status_code == 302


def test_giving_the_factor_again_gives_the_session_a_new_key(cast):
    enrol_totp(cast.broker)
    client = signed_in(cast.broker)
    session = client.session
    age_second_factor(session, 11 * 60)
    session.save()
    old_key = client.session.session_key
    step_up = reverse("mfa_reauthenticate")

    assert client.post(step_up, {"code": totp_code(cast.broker)}).status_code == 302

    new_key = client.session.session_key
    assert new_key != old_key
    assert not Session.objects.filter(session_key=old_key).exists()
    # The sessions page follows the key, and the person is still signed in with it.
    assert UserSession.objects.filter(session_key=new_key, user=cast.broker).exists()
    assert client.get(SESSIONS).status_code == 200
    stolen = Client()
    stolen.cookies["sessionid"] = old_key
    assert stolen.get("/deals/").status_code == 302


def test_deactivating_an_account_signs_it_out_everywhere(cast):
    laptop, phone = signed_in(cast.broker), signed_in(cast.broker)
    other = signed_in(cast.other_broker)
    cast.broker.is_active = False

    user_admin_save(actor=cast.admin, user=cast.broker, changed=["is_active"], created=False)

    assert not UserSession.objects.filter(user=cast.broker).exists()
    for client in (laptop, phone):
        assert client.get("/deals/").status_code == 302
    assert other.get("/deals/").status_code == 200
    ended = AuditEvent.objects.filter(action=AuditAction.SESSION_ENDED)
    assert ended.count() == 2
    assert {e.details["reason"] for e in ended} == {"deactivated"}
    assert {e.actor_id for e in ended} == {cast.admin.pk}


def test_an_administrator_signs_a_person_out_everywhere_from_the_admin(cast):
    laptop = signed_in(cast.broker)
    cast.admin.is_staff = cast.admin.is_superuser = True
    cast.admin.save()
    admin = signed_in(cast.admin)

    response = admin.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "sign_out_everywhere", "_selected_action": [cast.broker.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "1 session signed out." in response.text
    assert laptop.get("/deals/").status_code == 302
    assert admin.get(SESSIONS).status_code == 200
    event = AuditEvent.objects.get(action=AuditAction.SESSION_ENDED)
    assert event.actor_id == cast.admin.pk and event.details["reason"] == "administrator"


def test_signing_sessions_out_needs_a_fresh_factor_looking_at_them_does_not(cast):
    enrol_totp(cast.broker)
    here, there = signed_in(cast.broker), signed_in(cast.broker)
    session = here.session
    age_second_factor(session, 11 * 60)
    session.save()

    assert here.get(SESSIONS).status_code == 200
    target = UserSession.objects.get(session_key=there.session.session_key)
    asked = here.post(reverse("accounts:session_end", args=[target.pk]))
    assert asked.status_code == 302
    assert asked["Location"].startswith(reverse("mfa_reauthenticate"))
    everywhere = here.post(SESSIONS, {"action": "sign_out_other"})
    assert everywhere["Location"].startswith(reverse("mfa_reauthenticate"))
    assert UserSession.objects.filter(pk=target.pk).exists()
    assert there.get("/deals/").status_code == 200


@pytest.mark.parametrize(
    "password",
    ["TransferDesk2026!", "transferdesk-broker", "Compliance#Password1", "ACME-holdings-2026"],
)
def test_a_password_made_of_the_products_or_organisations_names_is_refused(cast, password):
    cast.broker.organization.slug = "acme"
    cast.broker.organization.legal_name = "ACME Holdings Ltd"
    with pytest.raises(ValidationError) as refused:
        validate_password(password, user=cast.broker)
    assert "mostly the name of the product, a role or your organisation" in str(refused.value)


def test_a_long_passphrase_that_contains_one_of_the_words_is_accepted(cast):
    validate_password("my old desk chair squeaks at night", user=cast.broker)


def test_a_password_change_signs_the_other_sessions_out_and_keeps_this_one(cast):
    here, there = signed_in(cast.broker), signed_in(cast.broker)
    response = here.post(
        reverse("accounts:password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a different long passphrase 7",
            "new_password2": "a different long passphrase 7",
        },
    )
    assert response.status_code == 302
    assert here.get("/deals/").status_code == 200
    assert there.get("/deals/").status_code == 302  # its session no longer matches the password
