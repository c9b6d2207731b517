"""Sign-in, failed sign-in, lockout and sign-out each write their event."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

LOGIN = "accounts:login"


def _events(action: AuditAction) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_signing_in_writes_a_sign_in_event_with_actor_address_and_request_id(client):
    user = UserFactory(username="broker")
    response = client.post(
        reverse(LOGIN),
        {"login": "broker", "password": PASSWORD},
        REMOTE_ADDR="192.0.2.10",
    )
    assert response.status_code == 302

    (event,) = _events(AuditAction.SIGN_IN)
    assert (event.actor, event.actor_name) == (user, "broker")
    assert (event.object_type, event.object_id) == ("accounts.user", str(user.pk))
    assert event.ip == "192.0.2.10"
    assert event.request_id == response["X-Request-ID"]


def test_signing_out_writes_a_sign_out_event(client):
    user = UserFactory(username="broker")
    client.force_login(user)
    client.post(reverse("accounts:logout"))

    (event,) = _events(AuditAction.SIGN_OUT)
    assert event.actor == user


def test_a_failed_sign_in_records_the_typed_username_and_never_the_password(client):
    user = UserFactory(username="broker")
    client.post(reverse(LOGIN), {"login": "broker", "password": "wrong-secret-123"})

    (event,) = _events(AuditAction.SIGN_IN_FAILED)
    assert event.actor is None
    assert event.details == {"username": "broker"}
    assert (event.object_type, event.object_id) == ("accounts.user", str(user.pk))
    assert "wrong-secret-123" not in str(AuditEvent.objects.values_list())


def test_a_failed_sign_in_for_an_unknown_username_names_no_object(client):
    client.post(reverse(LOGIN), {"login": "nobody", "password": "x"})
    (event,) = _events(AuditAction.SIGN_IN_FAILED)
    assert (event.object_type, event.object_id, event.details) == ("", "", {"username": "nobody"})


def test_six_failed_sign_ins_write_six_failures_and_a_lockout(client):
    user = UserFactory(username="broker")
    for _ in range(6):
        client.post(reverse(LOGIN), {"login": "broker", "password": "wrong"})

    assert len(_events(AuditAction.SIGN_IN_FAILED)) == 6
    lockouts = _events(AuditAction.ACCOUNT_LOCKED)
    assert lockouts
    assert lockouts[0].object_id == str(user.pk)
    assert lockouts[0].details == {"username": "broker"}
    assert not _events(AuditAction.SIGN_IN)
