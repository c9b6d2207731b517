"""One request id per request: in the response, the logs, and the messages of the tasks it sends."""

from __future__ import annotations

import logging

import pytest

from transferdesk.celery import _attach_request_id, _restore_request_id
from transferdesk.middleware import RequestIdLogFilter, get_request_id, set_request_id
from transferdesk.trail import AuditAction, AuditEvent


def test_every_response_carries_a_fresh_request_id(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert len(first) == 32
    assert first != second


PROXY = {"REMOTE_ADDR": "10.0.0.5"}


@pytest.fixture
def behind_the_proxy(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]


def test_a_well_formed_request_id_from_the_trusted_proxy_is_kept(client, behind_the_proxy):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-1234abcd", **PROXY)
    assert response["X-Request-ID"] == "lb-1234abcd"


@pytest.mark.parametrize(
    "incoming",
    [
        "bad id\nwith newline",
        "lb-1234abcd\n",  # "$" would have let a trailing newline through
        "x" * 65,
        "short",
        "lb-1234abcd;drop",
        "<script>12345",
    ],
)
def test_a_malformed_request_id_is_replaced_even_from_the_proxy(client, behind_the_proxy, incoming):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=incoming, **PROXY)
    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32


def test_a_request_id_chosen_by_a_client_is_replaced(client, behind_the_proxy):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-1234abcd", REMOTE_ADDR="203.0.113.9")
    assert response["X-Request-ID"] != "lb-1234abcd"
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_a_client_cannot_write_its_own_request_id_into_the_audit_trail(client, behind_the_proxy):
    """A failed sign-in is an audit event: the id stored with it is the server's own."""
    chosen = "incident-2026-forged"
    response = client.post(
        "/accounts/login/",
        {"login": "nobody", "password": "wrong"},
        HTTP_X_REQUEST_ID=chosen,
        REMOTE_ADDR="203.0.113.9",
    )
    event = AuditEvent.objects.get(action=AuditAction.SIGN_IN_FAILED)
    assert event.request_id == response["X-Request-ID"] != chosen
    assert event.ip == "203.0.113.9"

    response = client.post(
        "/accounts/login/",
        {"login": "nobody", "password": "wrong"},
        HTTP_X_REQUEST_ID="lb-proxy-0001",
        HTTP_X_FORWARDED_FOR="198.51.100.1",
        **PROXY,
    )
    event = AuditEvent.objects.filter(action=AuditAction.SIGN_IN_FAILED).latest("seq")
    assert event.request_id == "lb-proxy-0001"
    assert event.ip == "198.51.100.1"


def test_log_records_carry_the_request_id():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "message", None, None)
    set_request_id("abc12345")
    try:
        RequestIdLogFilter().filter(record)
    finally:
        set_request_id(None)
    assert record.request_id == "abc12345"


def test_tasks_inherit_the_request_id_of_the_request_that_sent_them():
    set_request_id("req-5678abcd")
    headers: dict[str, str] = {}
    _attach_request_id(headers=headers)
    set_request_id(None)
    assert headers["request_id"] == "req-5678abcd"

    class FakeTaskRequest:
        request_id = "req-5678abcd"

    class FakeTask:
        request = FakeTaskRequest()

    _restore_request_id(task=FakeTask())
    try:
        assert get_request_id() == "req-5678abcd"
    finally:
        set_request_id(None)
