"""The test world's second factors: actors enrolled with a TOTP app, sessions that passed it.

``force_login`` (1,750 tests) bypasses allauth's sign-in, so the autouse fixture in
``tests/conftest.py`` makes every force-logged-in session look exactly as allauth leaves one
after a password and a second factor (its authentication records in the session): the policy
middleware and the step-up see a fresh factor. Tests about the policy or the step-up sign in
for real, or age the records with ``age_second_factor``.

For browser sign-ins, ``enrol_totp`` gives a user a TOTP authenticator whose secret the test
knows, and ``totp_code`` computes the current code with pyotp, as an authenticator app would.
"""

from __future__ import annotations

import time
from typing import Any

import pyotp
from allauth.account.internal.flows.login import (
    _AUTHENTICATION_METHODS_USER_SESSION_KEY,
    AUTHENTICATION_METHODS_SESSION_KEY,
)
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from allauth.mfa.utils import decrypt
from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import cache
from django.test import Client


def passed_second_factor(session: SessionBase, user: Any, at: float | None = None) -> None:
    """Record in ``session`` a password and a TOTP sign-in of ``user`` at ``at`` (now)."""
    at = time.time() if at is None else at
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [
        {"method": "password", "at": at, "username": user.get_username()},
        {"method": "mfa", "at": at, "type": "totp", "id": 0},
    ]
    session[_AUTHENTICATION_METHODS_USER_SESSION_KEY] = str(user.pk)


def age_second_factor(session: SessionBase, seconds: float) -> None:
    """Move every authentication record of ``session`` ``seconds`` into the past."""
    records = session.get(AUTHENTICATION_METHODS_SESSION_KEY) or []
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [{**r, "at": r["at"] - seconds} for r in records]


def install_force_login_with_factor(monkeypatch: Any) -> None:
    original = Client.force_login

    def force_login(self: Client, user: Any, backend: str | None = None) -> None:
        original(self, user, backend)
        session = self.session
        passed_second_factor(session, user)
        session.save()

    monkeypatch.setattr(Client, "force_login", force_login)


def totp_authenticator(user: Any) -> Authenticator | None:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()


def enrol_totp(user: Any) -> str:
    """Give ``user`` a TOTP authenticator (if they have none) and return its secret."""
    existing = totp_authenticator(user)
    if existing is not None:
        return str(decrypt(existing.data["secret"]))
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def totp_code(user: Any) -> str:
    """The current code of ``user``'s TOTP app, usable once more (allauth refuses a code used
    within its period; a test signing the same person in twice must not wait for the next)."""
    authenticator = totp_authenticator(user)
    assert authenticator is not None, f"{user} has no TOTP authenticator"
    code = pyotp.TOTP(decrypt(authenticator.data["secret"])).now()
    cache.delete(TOTP(authenticator)._get_used_cache_key(code))
    return str(code)


LOGIN = "/accounts/login/"
CODE_STEP = "/accounts/2fa/authenticate/"


def sign_in(
    client: Client, username: str, password: str, *, follow: bool = False, **extra: Any
) -> Any:
    """Sign in as a person with an authenticator app does (enrolled here if they had none):
    the password, then, when the page asks for it, the app's current code. Returns the last
    response (the code step's, or the password step's when it did not lead to the code)."""
    from django.contrib.auth import get_user_model

    user = get_user_model()._default_manager.filter(username=username).first()
    if user is not None:
        enrol_totp(user)
    response = client.post(LOGIN, {"login": username, "password": password}, **extra)
    if response.status_code == 302 and response["Location"].startswith(CODE_STEP):
        assert user is not None
        response = client.post(CODE_STEP, {"code": totp_code(user)}, **extra)
    if follow and response.status_code == 302:
        return client.get(response["Location"], follow=True, **extra)
    return response
