"""The points of OWASP ASVS 5.0 V6/V7 that no other test shows (docs/security.md names the
test of every point): passwords taken exactly as typed and of any length and composition, the
password field as password managers expect it, a TOTP code usable once, session keys of enough
entropy, and a sign-out on every signed-in page."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD
from tests.support import mfa

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


@pytest.mark.parametrize(
    "password",
    [
        "x" * 7 + " long passphrase of sixty-four characters or more, kept whole ...",
        "长城 长城 长城 长城 长城 长城 🙂 ümlaut ß",  # any composition: no character rules
        "  leading and trailing spaces count  ",
    ],
)
def test_a_password_is_taken_exactly_as_typed_whatever_its_length_or_characters(cast, password):
    user = cast.broker
    user.set_password(password)
    user.save()
    assert mfa.sign_in(Client(), user.username, password).status_code == 302

    for altered in {password[:-1], password.upper(), password.strip(), password[:64]} - {password}:
        assert mfa.sign_in(Client(), user.username, altered).status_code == 200  # refused


def test_the_password_field_is_masked_and_open_to_password_managers(client):
    page = client.get(LOGIN).text
    field = re.search(r"<input[^>]*name=\"password\"[^>]*>", page)
    assert field is not None
    assert 'type="password"' in field.group(0)
    # Nothing that stops pasting or a password manager filling it in.
    assert 'autocomplete="off"' not in field.group(0)
    assert "onpaste" not in page and "maxlength" not in field.group(0)


def test_a_totp_code_is_refused_the_second_time(cast, settings):
    settings.MFA_TOTP_TOLERANCE = 0
    user = cast.broker
    mfa.enrol_totp(user)
    code = mfa.totp_code(user)
    first = Client()
    first.post(LOGIN, {"login": user.username, "password": PASSWORD})
    assert first.post("/accounts/2fa/authenticate/", {"code": code}).status_code == 302

    again = Client()
    again.post(LOGIN, {"login": user.username, "password": PASSWORD})
    replayed = again.post("/accounts/2fa/authenticate/", {"code": code})
    assert replayed.status_code == 200  # the code step again, with its error
    assert again.get("/deals/").status_code == 302


def test_session_keys_are_long_random_and_new_at_each_sign_in(cast):
    keys = set()
    for _ in range(3):
        client = Client()
        assert mfa.sign_in(client, cast.broker.username, PASSWORD).status_code == 302
        keys.add(client.session.session_key)
    assert len(keys) == 3
    for key in keys:
        # Django draws 32 characters from 36 with the system's CSPRNG: 165 bits.
        assert re.fullmatch(r"[a-z0-9]{32}", key)


@pytest.mark.parametrize("page", ["/deals/", "/work/", "/notifications/", "/accounts/sessions/"])
def test_every_signed_in_page_has_a_visible_sign_out(client, cast, page):
    client.force_login(cast.broker)
    body = client.get(page).text
    assert f'action="{reverse("accounts:logout")}"' in body
    assert ">Sign out</button>" in body
