"""Contract tests: schemathesis reads the app's own OpenAPI document and, for EVERY operation in
it, generates requests (valid and invalid parameters, bounded and derandomised), sends each
with four keys (one with every scope, one lacking them all but one, a revoked one, none) to the
running app (its WSGI application, in this process, so the test database is the app's), and
checks each answer: never a 5xx, a status the document lists, a body its schema describes.

An operation added to the API is tested here without a line more: it is in the document.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.services import api_key_revoke
from tests.api.conftest import auth
from transferdesk.principals import ApiScope

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


#: The document as the app serves it (it is generated from the code, no database needed).
#: Loaded at collection rather than from a fixture (``schemathesis.pytest.from_fixture``), whose
#: renaming of the test items does not work with this pytest.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
# The test sends the keys itself (below): no generated Authorization header on top.
schema.config.generation.update(with_security_parameters=False)


@pytest.fixture
def same_connection():
    """The app answers in this process, on the test's own database connection, inside the
    test's transaction: as Django's test client does, the connection is not closed at the end
    of each request (on PostgreSQL that would end the test's transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def keys(cast, issue, deals, settings: Any, same_connection: None) -> dict[str, Any]:
    """The keys every request is sent with, and real ids for the path parameters (a generated
    id is a 404; the real one reaches the operation's 200)."""
    settings.API_KEY_RATE = "1000000/minute"  # the rate limit has its own test
    deal, _other, _draft = deals
    revoked, revoked_text = issue(cast.seller, scopes=list(ApiScope.values))
    api_key_revoke(actor=cast.compliance, key=revoked)
    return {
        "headers": {
            "every scope": auth(issue(cast.seller, scopes=list(ApiScope.values))[1]),
            "lacking the scopes": auth(issue(cast.buyer_org, scopes=[ApiScope.REQUESTS_WRITE])[1]),
            "revoked": auth(revoked_text),
            "none": {},
        },
        "ids": {"id": str(deal.pk)},
    }


def _header(wsgi_meta: dict[str, str]) -> dict[str, str]:
    return {"Authorization": wsgi_meta["HTTP_AUTHORIZATION"]} if wsgi_meta else {}


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_keeps_its_contract_whatever_the_key(case: Any, keys: dict[str, Any]):
    for meta in keys["headers"].values():
        case.call_and_validate(headers=_header(meta), checks=CHECKS)
    known = {k: v for k, v in keys["ids"].items() if k in (case.path_parameters or {})}
    if known:
        case.path_parameters = {**case.path_parameters, **known}
        for meta in keys["headers"].values():
            case.call_and_validate(headers=_header(meta), checks=CHECKS)


def test_every_operation_documents_its_refusals():
    """The statuses the contract test accepts are the document's: each operation lists the
    refusals a key can meet, and the events list its 400 for a bad filter."""
    for path, item in schema.raw_schema["paths"].items():
        for operation in item.values():
            statuses = set(operation["responses"])
            assert {"401", "403", "404", "429"} <= statuses, path
            assert statuses & {"200", "201"}, path
    assert "400" in schema.raw_schema["paths"]["/api/v1/events/"]["get"]["responses"]
