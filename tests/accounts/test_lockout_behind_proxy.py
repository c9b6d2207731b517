"""Lock-outs behind the TLS proxy: every request arrives from the proxy's address, so the
client is the one the trusted proxy names in X-Forwarded-For, and one client's failures lock
only that client's attempts at that account."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from tests.factories import PASSWORD
from tests.support.mfa import sign_in
from transferdesk.trail import AuditAction, AuditEvent

LOGIN = "/accounts/login/"
PROXY = "10.0.0.5"
CLIENT_1 = "198.51.100.1"
CLIENT_2 = "198.51.100.2"
OUTSIDER = "203.0.113.9"


@pytest.fixture(autouse=True)
def _behind_the_proxy(settings):
    """The production layout: the proxy's network is trusted, counters start empty."""
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    cache.clear()
    yield
    cache.clear()


def attempt(client, username, password=PASSWORD, *, via=PROXY, forwarded=None):
    extra = {"REMOTE_ADDR": via}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return sign_in(client, username, password, **extra)


def signed_in(client, response) -> bool:
    """True when the attempt signed in; signs out again for the next attempt."""
    ok = response.status_code == 302 and "_auth_user_id" in client.session
    client.logout()
    return ok


def fail_five_times(client, username, **where):
    """The fifth failure is itself answered with the lock-out page."""
    codes = [attempt(client, username, "wrong password", **where).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429]


def test_five_failures_on_one_account_from_one_client_lock_only_that_pair(client, cast, db):
    fail_five_times(client, "broker", forwarded=CLIENT_1)

    locked = attempt(client, "broker", forwarded=CLIENT_1)
    assert locked.status_code == 429
    assert "This account is locked" in locked.content.decode()

    # Another member of staff behind the same proxy signs in as usual...
    assert signed_in(client, attempt(client, cast.other_broker.username, forwarded=CLIENT_1))
    # ...and so does the account's owner from their own machine.
    assert signed_in(client, attempt(client, "broker", forwarded=CLIENT_2))


def test_the_proxy_chain_is_read_from_the_right(client, cast, db):
    """A client that writes its own X-Forwarded-For gets the proxy's hop appended after it:
    the right-most untrusted address is the client, whatever it wrote on the left."""
    for forged in ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"):
        attempt(client, "broker", "wrong password", forwarded=f"{forged}, {CLIENT_1}")
    assert attempt(client, "broker", forwarded=f"192.0.2.99, {CLIENT_1}").status_code == 429
    assert signed_in(client, attempt(client, "broker", forwarded=f"{CLIENT_1}, {CLIENT_2}"))


def test_x_forwarded_for_from_an_untrusted_peer_cannot_evade_a_lock_out(client, cast, db):
    for i in range(5):
        attempt(client, "broker", "wrong password", via=OUTSIDER, forwarded=f"192.0.2.{i}")
    assert attempt(client, "broker", via=OUTSIDER, forwarded="192.0.2.77").status_code == 429


def test_x_forwarded_for_from_an_untrusted_peer_cannot_frame_a_client(client, cast, db):
    fail_five_times(client, "broker", via=OUTSIDER, forwarded=CLIENT_1)
    assert signed_in(client, attempt(client, "broker", forwarded=CLIENT_1))


def test_the_audit_trail_records_the_client_not_the_proxy(client, cast, db):
    attempt(client, "broker", "wrong password", forwarded=f"192.0.2.1, {CLIENT_1}")
    attempt(client, "broker", "wrong password", via=OUTSIDER, forwarded=CLIENT_2)
    failures = AuditEvent.objects.filter(action=AuditAction.SIGN_IN_FAILED).order_by("seq")
    assert [event.ip for event in failures] == [CLIENT_1, OUTSIDER]


def test_one_address_spraying_many_accounts_is_told_to_back_off(client, cast, db, settings):
    assert settings.SIGN_IN_ADDRESS_LIMIT == 100
    for i in range(100):
        response = attempt(client, f"guess{i}", "wrong password", forwarded=CLIENT_1)
        assert response.status_code == 200, i

    refused = attempt(client, "broker", forwarded=CLIENT_1)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 3600
    page = refused.content.decode()
    assert "Too many sign-in attempts from your network" in page
    assert "No account has been locked" in page
    assert "_auth_user_id" not in client.session
    # The admin's sign-in is the same door.
    assert (
        client.post(
            "/admin/login/",
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=CLIENT_1,
            data={"username": "admin", "password": PASSWORD},
        ).status_code
        == 429
    )

    # Everyone else behind the proxy is unaffected, the broker included.
    assert signed_in(client, attempt(client, "broker", forwarded=CLIENT_2))


def test_the_back_off_page_is_translated(client, cast, db, settings):
    settings.SIGN_IN_ADDRESS_LIMIT = 1
    attempt(client, "guess", "wrong password", forwarded=CLIENT_1)
    response = client.post(
        LOGIN,
        {"login": "broker", "password": PASSWORD},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=CLIENT_1,
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert response.status_code == 429
    page = response.content.decode()
    assert "来自您所在网络的登录尝试次数过多" in page
    assert "Too many sign-in attempts" not in page
