"""The incident's affected customers come from the access log, exactly."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from audits.choices import AuditAction
from audits.incidents import (
    affected,
    deadlines,
    incident_create,
    incident_notify_customers,
    incident_report_pdf,
    incident_set_status,
)
from audits.models import AuditEvent
from audits.services import record_event
from customers.services import organization_grant

pytestmark = pytest.mark.django_db


def _open(client, user, customer) -> None:
    client.force_login(user)
    response = client.get(reverse("customers:customer_detail", kwargs={"pk": customer.pk}))
    assert response.status_code == 200


def test_affected_customers_are_exactly_those_the_access_log_shows_in_the_window(
    cast, client, make_customer, seller
):
    organization_grant(
        actor=cast.admin, user=cast.broker, organization=seller, permission="manage_customers"
    )
    before, inside_a, inside_b, inside_c, after, untouched = (make_customer()[0] for _ in range(6))
    _open(client, cast.broker, before)  # before the window
    start = timezone.now()
    _open(client, cast.broker, inside_a)
    _open(client, cast.broker, inside_b)
    record_event(  # a reveal of core fields by the same account
        action=AuditAction.REVEAL,
        actor=cast.broker,
        obj=inside_c,
        details={"fields": ["national_id"]},
    )
    record_event(  # not a read of customer data: ignored
        action=AuditAction.UPDATE, actor=cast.broker, obj=untouched, details={"fields": ["city"]}
    )
    end = timezone.now()
    _open(client, cast.broker, after)  # after the window

    incident = incident_create(
        actor=cast.compliance,
        detected_at=end,
        description="A broker laptop was stolen with an open session.",
        severity="high",
        window_start=start,
        window_end=end,
        suspect_users=[cast.broker],
        contact="dpo@example.test",
    )
    found = affected(incident)
    assert set(found.customers) == {str(inside_a.pk), str(inside_b.pk), str(inside_c.pk)}
    assert "full_name" in found.customers[str(inside_a.pk)]
    assert found.customers[str(inside_c.pk)] == {"national_id"}

    # Narrowed to another account: nobody.
    incident_other = incident_create(
        actor=cast.compliance, detected_at=end, description="x", severity="low",
        window_start=start, window_end=end, suspect_users=[cast.other_broker],
    )  # fmt: skip
    assert affected(incident_other).customers == {}


def test_clock_notice_and_report_are_each_an_audit_event(cast, make_customer, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    customer, _ = make_customer(preferred_language="zh-hans")
    start = timezone.now()
    record_event(
        action=AuditAction.VIEW_SENSITIVE, actor=cast.broker, obj=customer,
        details={"fields": ["email", "full_name"]},
    )  # fmt: skip
    detected = timezone.now()
    incident = incident_create(
        actor=cast.compliance, detected_at=detected, description="Misdirected export.",
        severity="medium", window_start=start, window_end=detected, contact="dpo@example.test",
    )  # fmt: skip
    gdpr, pipl = deadlines(incident)
    assert gdpr.due == detected + dt.timedelta(hours=72) and gdpr.state == "running"
    assert pipl.due < gdpr.due

    assert incident_notify_customers(actor=cast.compliance, incident=incident) == 1
    assert mail.outbox[0].to == [customer.email]
    assert "dpo@example.test" in mail.outbox[0].body
    assert incident.reference in mail.outbox[0].subject

    pdf = incident_report_pdf(actor=cast.compliance, incident=incident)
    assert pdf.startswith(b"%PDF")
    incident_set_status(actor=cast.compliance, incident=incident, status="reported")
    assert deadlines(incident)[0].state == "met"
    steps = [
        e.details.get("step") or e.details.get("report")
        for e in AuditEvent.objects.filter(object_id=str(incident.pk)).order_by("seq")
    ]
    assert steps == ["recorded", "customers_notified", "incident_report", "status"]
    # No personal data in any of them.
    for event in AuditEvent.objects.filter(object_id=str(incident.pk)):
        assert customer.email not in str(event.details)
