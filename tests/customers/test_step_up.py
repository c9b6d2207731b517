"""Step-up (issue 15): revealing core fields needs a second factor given within ten minutes;
the page asks for it and then comes back to the reveal, with the reason the broker gave."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from customers.services import organization_grant
from tests.support.mfa import age_second_factor, enrol_totp, totp_code
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

MINUTES = 60


@pytest.fixture
def broker(cast, make_customer):
    for permission in ("manage_customers", "reveal_core"):
        organization_grant(
            actor=cast.admin, user=cast.broker, organization=cast.seller, permission=permission
        )
    cast.customer = make_customer(
        organization=cast.seller, reference="C-1", full_name="Wang Fang", national_id="AB 123456 C"
    )
    enrol_totp(cast.broker)
    return cast


def age(client, minutes):
    session = client.session
    age_second_factor(session, minutes * MINUTES)
    session.save()


def test_revealing_after_eleven_minutes_asks_for_the_factor_again_then_reveals(broker, client):
    client.force_login(broker.broker)
    url = reverse("customers:customer_reveal", args=[broker.customer.pk])
    age(client, 9)
    assert "AB 123456 C" in client.post(url, {"reason": "identity_check"}).text  # still fresh

    age(client, 2)  # eleven minutes since the factor
    asked = client.post(url, {"reason": "identity_check"})
    assert asked.status_code == 302
    step_up = f"{reverse('mfa_reauthenticate')}?next={url.replace('/', '%2F')}"
    assert asked["Location"] == step_up
    assert AuditEvent.objects.filter(action=AuditAction.REVEAL).count() == 1  # nothing shown
    page = client.get(step_up)
    assert page.status_code == 200 and "give your second factor again" in page.text

    wrong = client.post(step_up, {"code": "000000"})
    assert wrong.status_code == 200 and "AB 123456 C" not in wrong.text
    # The right code: back to the reveal, replayed with the reason given before.
    revealed = client.post(step_up, {"code": totp_code(broker.broker)})
    assert revealed.status_code == 200
    assert "AB 123456 C" in revealed.text
    reveals = AuditEvent.objects.filter(action=AuditAction.REVEAL).order_by("seq")
    assert reveals.count() == 2 and reveals.last().details["reason"] == "identity_check"


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("transfers:stage_approve", lambda cast: {"pk": uuid.uuid4()}),
        ("audits:events_export", lambda cast: {}),
        ("lifecycle:deal_destroy", lambda cast: {"pk": uuid.uuid4()}),
    ],
)
def test_the_other_dangerous_actions_ask_for_a_fresh_factor_too(broker, client, name, kwargs):
    client.force_login(broker.compliance)
    enrol_totp(broker.compliance)
    age(client, 11)
    response = client.get(reverse(name, kwargs=kwargs(broker)))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_reauthenticate"))
