"""One request id per request: in the response, the logs, and the messages of the tasks it sends."""

from __future__ import annotations

import logging

from transferdesk.celery import _attach_request_id, _restore_request_id
from transferdesk.middleware import RequestIdLogFilter, get_request_id, set_request_id


def test_every_response_carries_a_fresh_request_id(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert len(first) == 32
    assert first != second


def test_a_well_formed_incoming_request_id_is_kept(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-1234abcd")
    assert response["X-Request-ID"] == "lb-1234abcd"


def test_a_malformed_incoming_request_id_is_replaced(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert response["X-Request-ID"] != "bad id\nwith newline"
    assert len(response["X-Request-ID"]) == 32


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
