"""E-mails on a sign-in from a new device (issue 15, accounts/devices.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core import mail
from django.test import Client

from accounts.devices import COOKIE, summarise_user_agent
from accounts.models import KnownDevice
from tests.factories import PASSWORD
from tests.support import mfa
from transferdesk.trail import AuditAction
from transferdesk.trail.models import AuditEvent

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0"
)


@pytest.fixture
def sign_in(cast, django_capture_on_commit_callbacks, eager_tasks) -> Callable[..., None]:
    """Sign in (password and code) and out; the e-mail leaves once the sign-in commits, so
    each sign-in runs its on-commit callbacks as it ends (the test's transaction never does)."""

    def sign_in(client: Client, username: str, agent: str = FIREFOX) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            response = mfa.sign_in(client, username, PASSWORD, HTTP_USER_AGENT=agent)
        assert response.status_code == 302, response.content[:500]
        assert client.session.get("_auth_user_id")
        client.post("/accounts/logout/")

    return sign_in


def _new_device_mails() -> list:
    return [m for m in mail.outbox if "new device" in m.subject]


def test_the_first_sign_in_is_quiet_then_only_an_unknown_browser_gets_an_email(cast, sign_in):
    first = Client()
    sign_in(first, "broker")
    assert not _new_device_mails()  # nothing to compare with yet
    sign_in(first, "broker")
    assert not _new_device_mails()  # the same browser

    second = Client()
    sign_in(second, "broker", EDGE)
    (message,) = _new_device_mails()
    assert message.to == [cast.broker.email]
    assert "Edge · Windows" in message.body
    assert "127.0.0.1" in message.body
    assert "/accounts/password/" in message.body
    sign_in(second, "broker", EDGE)
    assert len(_new_device_mails()) == 1
    assert KnownDevice.objects.filter(user=cast.broker).count() == 2
    assert AuditEvent.objects.filter(action=AuditAction.NEW_DEVICE_SIGN_IN).count() == 1


def test_a_forged_device_cookie_is_a_new_device(sign_in):
    browser = Client()
    sign_in(browser, "broker")
    browser.cookies[COOKIE] = "A" * 43  # unsigned: not ours
    sign_in(browser, "broker")
    assert len(_new_device_mails()) == 1


def test_the_email_is_in_the_users_language(cast, sign_in):
    cast.broker.language = "zh-hans"
    cast.broker.save()
    sign_in(Client(), "broker")
    sign_in(Client(), "broker")
    (message,) = [m for m in mail.outbox if "新设备" in m.subject]
    assert "浏览器" in message.body


@pytest.mark.parametrize(
    ("agent", "summary"),
    [
        (FIREFOX, "Firefox · Linux"),
        (EDGE, "Edge · Windows"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            "Safari · iOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/130.0 Mobile Safari/537.36",
            "Chrome · Android",
        ),
        ("", "? · ?"),
        ("<script>" * 200, "? · ?"),
    ],
)
def test_user_agents_are_summarised(agent, summary):
    assert summarise_user_agent(agent) == summary
