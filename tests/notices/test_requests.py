"""The request register: deadlines by jurisdiction, overdue, outcomes through owning services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.choices import CustomerStatus
from customers.models import Customer
from transferdesk.trail import AuditAction, AuditEvent
from transfers import requests
from transfers.notice_models import (
    DataSubjectRequest,
    IdentityCheck,
    RequestKind,
    RequestSource,
    RequestStatus,
)

from .conftest import customers_of

pytestmark = pytest.mark.django_db


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def customer(cast, deal):
    return customers_of(cast.seller, languages=("en",))[0]


def make(customer, deal, kind=RequestKind.COMPLAINT, **kwargs):
    values = {"message": "Too many calls"} if kind == RequestKind.COMPLAINT else {}
    values.update(kwargs)
    return requests.request_create(
        customer=customer, deal=deal, kind=kind, source=RequestSource.CUSTOMER_PAGE, **values
    )


def test_due_dates_follow_the_jurisdictions_policy():
    assert requests.due_date(utc(2026, 3, 1, 9), "PIPL") == utc(2026, 3, 16, 9)
    assert requests.due_date(utc(2026, 3, 15, 9), "GDPR") == utc(2026, 4, 15, 9)
    assert requests.due_date(utc(2026, 1, 31, 9), "GDPR") == utc(2026, 2, 28, 9)
    assert requests.due_date(utc(2028, 1, 31, 9), "GDPR") == utc(2028, 2, 29, 9)


def test_the_due_date_is_set_from_the_customers_jurisdiction(cast, deal, customer, settings):
    dsr = make(customer, deal)
    assert dsr.jurisdiction == "PIPL"
    assert dsr.due_at == dsr.received_at + timedelta(days=15)
    customer.country = "DE"
    customer.save(update_fields=["country"])
    assert make(customer, deal).jurisdiction == "GDPR"
    settings.NOTICE_REQUEST_POLICIES = {"PIPL": {"days": 10}}
    customer.country = "CN"
    customer.save(update_fields=["country"])
    later = make(customer, deal)
    assert later.due_at == later.received_at + timedelta(days=10)


def test_a_request_past_its_due_date_shows_as_overdue_in_the_register(cast, deal, customer, client):
    late = make(customer, deal)
    on_time = make(customer, deal)
    DataSubjectRequest.objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(hours=1))
    late.refresh_from_db()
    assert late.is_overdue and not on_time.is_overdue
    client.force_login(cast.compliance)
    page = client.get("/requests/?show=overdue").content.decode()
    assert str(late.pk) in page and str(on_time.pk) not in page
    assert "table-danger" in page and "Overdue" in page
    detail = client.get(f"/requests/{late.pk}/").content.decode()
    assert "Overdue: the answer was due" in detail


def test_a_request_cannot_be_refused_without_a_reason(cast, deal, customer):
    dsr = make(customer, deal)
    with pytest.raises(ValidationError):
        requests.request_refuse(actor=cast.compliance, request=dsr, reason="  ")
    dsr.refresh_from_db()
    assert dsr.status == RequestStatus.OPEN
    with pytest.raises(IntegrityError), transaction.atomic():  # and the database agrees
        DataSubjectRequest.objects.filter(pk=dsr.pk).update(status=RequestStatus.REFUSED)
    requests.request_refuse(actor=cast.compliance, request=dsr, reason="Not our customer.")
    dsr.refresh_from_db()
    assert dsr.status == RequestStatus.REFUSED and dsr.closed_by == cast.compliance


def test_refusing_from_the_register_without_a_reason_keeps_the_request_open(
    cast, deal, customer, client
):
    dsr = make(customer, deal)
    client.force_login(cast.compliance)
    client.post(f"/requests/{dsr.pk}/refuse/", {"reason": ""})
    dsr.refresh_from_db()
    assert dsr.status == RequestStatus.OPEN


def test_a_correction_is_fulfilled_through_the_vault_and_audited(cast, deal, customer):
    dsr = make(
        customer, deal, RequestKind.CORRECTION, field_name="postal_address",
        requested_value="2 New Street",
    )  # fmt: skip
    requests.request_fulfil(actor=cast.compliance, request=dsr)
    fresh = Customer.objects.get(pk=customer.pk)
    assert fresh.postal_address == "2 New Street"
    assert fresh.history.count() >= 2  # the vault's service wrote the history row
    dsr.refresh_from_db()
    assert dsr.status == RequestStatus.FULFILLED
    assert AuditEvent.objects.filter(action=AuditAction.REQUEST_FULFILLED, object_id=str(dsr.pk))
    assert AuditEvent.objects.filter(action=AuditAction.REQUEST_RECEIVED, object_id=str(dsr.pk))


def test_a_request_by_phone_needs_an_identity_check_before_it_is_fulfilled(cast, deal, customer):
    dsr = requests.request_create(
        customer=customer, deal=deal, kind=RequestKind.ACCESS, source=RequestSource.PHONE,
        actor=cast.compliance,
    )  # fmt: skip
    assert dsr.identity_check == IdentityCheck.PENDING
    with pytest.raises(ValidationError):
        requests.request_fulfil(actor=cast.compliance, request=dsr)
    requests.request_update(
        actor=cast.compliance, request=dsr, identity_check=IdentityCheck.VERIFIED,
        assignee=cast.compliance,
    )  # fmt: skip
    assert requests.request_fulfil(actor=cast.compliance, request=dsr).status == "fulfilled"


def test_an_erasure_goes_through_the_destruction_service(cast, deal, customer, client):
    from transfers import notices

    # A notified customer: their link and the register must not block the erasure.
    notices.link_issue(actor=None, deal=deal, customer=customer)
    dsr = make(customer, deal, RequestKind.ERASURE)
    result = requests.request_fulfil(actor=cast.compliance, request=dsr)
    remaining = Customer.objects.filter(pk=customer.pk).values_list("status", flat=True)
    assert result.status == RequestStatus.FULFILLED
    assert list(remaining) in ([], [CustomerStatus.ERASED])  # destroyed or anonymised
    result.data_key.refresh_from_db()
    assert result.data_key.is_destroyed  # what they wrote went with their key
    client.force_login(cast.compliance)
    page = client.get(f"/requests/{dsr.pk}/")
    assert page.status_code == 200 and "Erased with the customer" in page.content.decode()


def test_an_erasure_of_a_customer_under_legal_hold_stays_open_and_says_why(cast, deal, customer):
    from audits.retention import legal_hold_place

    legal_hold_place(actor=cast.compliance, customer=customer, reason="Court order 2026-17")
    dsr = make(customer, deal, RequestKind.ERASURE)
    result = requests.request_fulfil(actor=cast.compliance, request=dsr)
    assert result.status == RequestStatus.WAITING and not result.is_closed
    assert "legal hold" in result.waiting_reason
    customer.refresh_from_db()
    assert customer.status == CustomerStatus.ACTIVE and customer.full_name  # untouched


def test_reminders_go_once_for_requests_close_to_their_deadline(
    cast, deal, customer, mailoutbox, eager_tasks, django_capture_on_commit_callbacks
):
    soon = make(customer, deal)
    make(customer, deal)
    late = make(customer, deal)
    DataSubjectRequest.objects.filter(pk=soon.pk).update(due_at=timezone.now() + timedelta(days=1))
    DataSubjectRequest.objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(days=1))
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert requests.requests_remind() == 2  # one due soon, one overdue
        assert requests.requests_remind() == 0
    reminded = [m for m in mailoutbox if cast.compliance.email in m.to]
    assert sorted(m.subject for m in reminded) == [
        "TransferDesk: Data-subject request due soon",
        "TransferDesk: Data-subject request overdue",
    ]
    assert any(str(soon.pk)[:8] in m.body for m in reminded)
    assert any(f"{str(late.pk)[:8]} is overdue" in m.body for m in reminded)
    assert all(customer.email not in m.body for m in mailoutbox)
