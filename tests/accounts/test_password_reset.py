"""Password reset by e-mail (issue 15): the same answer for every address, the e-mail in the
account's language, a link that works once and for an hour, bounded forms, audit events, and a
reset that never skips the second factor."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import mail
from django.core.cache import cache
from django.test import Client

from tests.factories import PASSWORD
from tests.support import mfa
from transferdesk.trail import AuditAction
from transferdesk.trail.models import AuditEvent

RESET = "/accounts/password/reset/"
NEW_PASSWORD = "a fresh long passphrase 42"


@pytest.fixture(autouse=True)
def _fresh_rate_limits(eager_tasks: None) -> Iterator[None]:
    """allauth's rate limits count per address in the cache; the e-mail is a task's."""
    cache.clear()
    yield
    cache.clear()


def _request(client, email: str):
    return client.post(RESET, {"email": email})


def _link(message) -> str:
    found = re.search(r"https?://\S+/accounts/password/reset/key/\S+/", message.body)
    assert found, message.body
    return urlsplit(found.group(0)).path


def test_the_sign_in_page_links_to_the_reset(client, db):
    page = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/password/reset/"' in page
    assert "Forgot your password?" in page


def test_a_known_and_an_unknown_address_get_the_same_answer_and_only_the_account_a_mail(
    client, cast
):
    known = _request(client, cast.broker.email.upper())
    unknown = _request(client, "nobody@example.test")
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == "/accounts/password/reset/done/"
    assert [m.to for m in mail.outbox] == [[cast.broker.email]]
    done = client.get(known["Location"]).content.decode()
    assert "If an account has this address" in done
    events = AuditEvent.objects.filter(action=AuditAction.PASSWORD_RESET_REQUESTED)
    assert sorted(str(e.object_id) for e in events) == ["", str(cast.broker.pk)]
    assert "nobody@example.test" not in str([e.details for e in events])


def test_the_mail_is_in_the_accounts_language(client, cast):
    cast.buyer.language = "zh-hans"
    cast.buyer.save()
    _request(client, cast.buyer.email)
    (message,) = mail.outbox
    assert "重置" in message.subject
    assert "/accounts/password/reset/key/" in message.body


def test_the_link_sets_a_new_password_once_and_the_sign_in_still_asks_for_the_factor(client, cast):
    mfa.enrol_totp(cast.broker)
    _request(client, cast.broker.email)
    link = _link(mail.outbox[0])
    form = client.get(link)
    assert form.status_code == 302  # allauth moves the key out of the address
    page = client.get(form["Location"])
    assert "Choose a new password" in page.content.decode()
    done = client.post(form["Location"], {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done["Location"] == "/accounts/password/reset/key/done/"
    assert not client.session.get("_auth_user_id")  # not signed in by the reset
    assert AuditEvent.objects.filter(
        action=AuditAction.PASSWORD_RESET_COMPLETED, object_id=str(cast.broker.pk)
    ).exists()

    # The same link again: used.
    again = client.get(link)
    assert again.status_code == 200
    assert "This link cannot be used" in again.content.decode()

    # Signing in with the new password stops at the second factor.
    response = client.post("/accounts/login/", {"login": "broker", "password": NEW_PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith(mfa.CODE_STEP)
    assert not client.session.get("_auth_user_id")
    response = client.post(mfa.CODE_STEP, {"code": mfa.totp_code(cast.broker)})
    assert client.session.get("_auth_user_id") == str(cast.broker.pk)


def test_an_expired_link_gives_the_clear_page(client, cast, monkeypatch):
    _request(client, cast.broker.email)
    link = _link(mail.outbox[0])
    # An hour and a minute later, for the token check (allauth's generator is Django's).
    later = datetime.now() + timedelta(hours=1, minutes=1)
    monkeypatch.setattr(PasswordResetTokenGenerator, "_now", lambda self: later)
    response = client.get(link)
    assert response.status_code == 200
    assert "This link cannot be used" in response.content.decode()
    assert "Ask for a new link" in response.content.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/password/reset/key/1-nonsense/",
        "/accounts/password/reset/key/zzzzzzzzzzzzzzzzzzzzzzzz-abc-def/",
        "/accounts/password/reset/key/zzzzzzzzzzzz-abc-def/",
        "/accounts/password/reset/key/1-set-password/",
        "/accounts/password/reset/key/1-" + "x" * 5000 + "/",
    ],
)
def test_a_made_up_link_gives_the_clear_page(client, cast, path):
    response = client.get(path)
    assert response.status_code == 200
    assert "This link cannot be used" in response.content.decode()


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("x" * 300 + "@example.test", "at most 254 characters"),
        ("<script>alert(1)</script>", "Enter a valid email address"),
        ("", "This field is required"),
    ],
)
def test_hostile_addresses_get_a_message(client, db, email, message):
    response = _request(client, email)
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert "<script>alert(1)</script>" not in page
    assert not mail.outbox


def test_a_hostile_new_password_gets_a_message_and_changes_nothing(client, cast):
    _request(client, cast.broker.email)
    form = client.get(_link(mail.outbox[0]))
    for password, message in [
        ("x" * 5000, "at most 1024 characters"),
        ("short", "too short"),
        (NEW_PASSWORD, "same password each time"),
    ]:
        second = password if password != NEW_PASSWORD else NEW_PASSWORD + "!"
        response = client.post(form["Location"], {"password1": password, "password2": second})
        assert response.status_code == 200
        assert message in response.content.decode()
    cast.broker.refresh_from_db()
    assert cast.broker.check_password(PASSWORD)


def test_asking_too_often_for_one_address_is_refused(client, cast):
    statuses = [_request(client, cast.broker.email).status_code for _ in range(4)]
    assert statuses == [302, 302, 302, 429]
    assert len(mail.outbox) == 3
    assert "Too many attempts" in _request(client, cast.broker.email).content.decode()


def test_a_reset_signs_out_the_accounts_other_sessions(client, cast):
    elsewhere = Client()
    elsewhere.force_login(cast.broker)
    assert elsewhere.get("/deals/").status_code == 200
    _request(client, cast.broker.email)
    form = client.get(_link(mail.outbox[0]))
    client.post(form["Location"], {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    after = elsewhere.get("/deals/")
    assert after.status_code == 302 and after["Location"].startswith("/accounts/login/")
