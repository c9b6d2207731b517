"""Sign-in, lock-out, idle timeout, sign-out and password change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.utils import reset as axes_reset
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from tests.factories import PASSWORD
from tests.support import mfa

LOGIN = "/accounts/login/"


def sign_in(client, username: str, password: str = PASSWORD):
    return mfa.sign_in(client, username, password, follow=True)


@pytest.mark.parametrize(
    ("actor", "landing", "heading"),
    [
        ("broker", "/deals/", "Deals"),
        ("compliance", "/compliance/", "Compliance"),
        ("buyer", "/portal/", "Data room"),
        ("admin", "/admin/", "Site administration"),
    ],
)
def test_each_role_lands_on_its_own_page_after_sign_in(client, cast, actor, landing, heading):
    response = sign_in(client, getattr(cast, actor).username)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == landing
    assert heading in response.content.decode()


def test_landing_pages_show_an_honest_empty_state(client, cast):
    client.force_login(cast.broker)
    page = client.get("/deals/").content.decode()
    assert "No deals assigned to you yet" in page
    client.force_login(cast.buyer)
    assert "Nothing has been handed over to you yet" in client.get("/portal/").content.decode()


def test_a_wrong_password_is_refused_with_a_clear_message(client, cast):
    response = sign_in(client, "broker", "wrong password")
    assert response.status_code == 200
    assert "That username and password do not match" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_sixth_attempt_is_refused_with_a_lock_out_message_even_when_correct(client, cast):
    for _ in range(5):
        sign_in(client, "broker", "wrong password")
    response = sign_in(client, "broker", PASSWORD)
    assert response.status_code == 429
    page = response.content.decode()
    assert "This account is locked" in page
    assert "Try again in 30 minutes" in page
    assert "_auth_user_id" not in client.session


def test_an_administrator_can_unlock_a_locked_out_user(client, cast):
    for _ in range(5):
        sign_in(client, "broker", "wrong password")
    axes_reset(username="broker")
    response = sign_in(client, "broker", PASSWORD)
    assert response.redirect_chain[-1][0] == "/deals/"


def test_lock_out_ends_after_the_cool_off(client, cast, settings):
    for _ in range(5):
        sign_in(client, "broker", "wrong password")
    from axes.models import AccessAttempt

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=31))
    response = sign_in(client, "broker", PASSWORD)
    assert response.redirect_chain[-1][0] == "/deals/"


def test_a_session_idle_past_the_timeout_is_signed_out(client, cast, settings):
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    sign_in(client, "broker")
    assert client.get("/deals/").status_code == 200
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/deals/")
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_activity_extends_the_session(client, cast, settings):
    sign_in(client, "broker")
    before = Session.objects.get().expire_date
    Session.objects.update(expire_date=before - timedelta(minutes=10))
    client.get("/deals/")
    after = Session.objects.get().expire_date
    assert after > before - timedelta(minutes=10)
    assert after <= timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE + 5)


def test_sign_out_needs_a_post_and_ends_the_session(client, cast):
    sign_in(client, "broker")
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert client.get("/deals/").status_code == 302


def test_password_change_requires_the_old_password_and_a_strong_new_one(client, cast, settings):
    settings.PASSWORD_HASHERS = settings.PASSWORD_HASHERS[1:]  # production: argon2 first
    cast.broker.set_password(PASSWORD)
    cast.broker.save()
    client.force_login(cast.broker)
    url = reverse("accounts:password_change")
    weak = client.post(
        url, {"old_password": PASSWORD, "new_password1": "short", "new_password2": "short"}
    )
    assert "This password is too short" in weak.content.decode()
    wrong = client.post(
        url,
        {
            "old_password": "nope",
            "new_password1": "a much longer pass 42",
            "new_password2": "a much longer pass 42",
        },
    )
    assert "Your old password was entered incorrectly" in wrong.content.decode()
    ok = client.post(
        url,
        {
            "old_password": PASSWORD,
            "new_password1": "a much longer pass 42",
            "new_password2": "a much longer pass 42",
        },
    )
    assert ok.status_code == 302
    cast.broker.refresh_from_db()
    assert cast.broker.check_password("a much longer pass 42")
    assert cast.broker.password.startswith("argon2$")


def test_a_signed_in_user_without_a_role_is_told_so(client, db):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="norole"))
    response = client.get("/")
    assert response.status_code == 403
    assert "Your account has no role in TransferDesk yet" in response.content.decode()
