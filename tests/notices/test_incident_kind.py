"""The notice machinery's incident kind: an incident's notices belong to no deal, reach only
compliance officers, and a live worker sends them with ids only in its messages."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from celery.signals import before_task_publish
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.choices import Role
from audits.incidents import incident_create, incident_notices_prepare
from customers.models import Customer
from tests.factories import CustomerFactory, UserFactory
from tests.transfers.conftest import bulk_customers, make_deal
from transferdesk import jobs
from transferdesk.trail import AuditAction, record_event
from transfers import notices
from transfers.notice_models import (
    CampaignKind,
    CampaignStatus,
    Notice,
    NoticeCampaign,
    NoticeStatus,
)

from .test_bulk import _is_id


def _incident(cast, customers, *, deal=None):
    start = timezone.now()
    for customer in customers:
        record_event(
            action=AuditAction.VIEW_SENSITIVE, actor=cast.broker, obj=customer, deal=deal,
            details={"fields": ["email", "phone"]},
        )  # fmt: skip
    return incident_create(
        actor=cast.compliance, detected_at=timezone.now(), description="Session hijacked.",
        severity="high", window_start=start, window_end=timezone.now(),
        contact="dpo@example.test",
    )  # fmt: skip


def _officer(cast):
    return UserFactory(
        username="compliance-2", organization=cast.compliance.organization,
        roles=[Role.COMPLIANCE],
    )  # fmt: skip


@pytest.mark.django_db
def test_an_incident_campaign_belongs_to_its_incident_and_to_no_deal(cast):
    deal = make_deal(cast)
    incident = _incident(cast, [])
    for bad in (
        NoticeCampaign(kind=CampaignKind.INCIDENT, incident=incident, deal=deal),
        NoticeCampaign(kind=CampaignKind.INCIDENT),
        NoticeCampaign(kind=CampaignKind.TRANSFER, deal=deal),  # no objection deadline
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            bad.save()


@pytest.mark.django_db
def test_incident_notices_never_count_as_the_deals_transfer_notices(cast, client):
    deal = make_deal(cast)
    bulk_customers(cast.seller, 3, prefix="INCK")
    customers = list(Customer.objects.filter(reference__startswith="INCK"))
    incident = _incident(cast, customers, deal=deal)
    campaign = incident_notices_prepare(actor=cast.compliance, incident=incident)
    assert not deal.notice_campaigns.exists()
    assert notices.deal_purpose_changed(deal) == notices.purpose_differs(deal)
    assert campaign.notices.filter(link_deal=deal).count() == 3
    client.force_login(cast.broker)  # the deal's own broker
    for name in ("notices:campaign_detail", "notices:campaign_preview"):
        assert client.get(reverse(name, args=[campaign.pk])).status_code == 404
    client.force_login(cast.compliance)
    response = client.get(reverse("notices:campaign_preview", args=[campaign.pk]))
    assert response["Location"] == reverse("lifecycle:incident_notice_preview", args=[incident.pk])


@pytest.mark.live_worker
def test_a_live_worker_sends_an_incidents_notices_with_ids_only_in_its_messages(tcast, live_worker):
    deal = make_deal(tcast)
    bulk_customers(tcast.seller, 20, prefix="INCLIVE")
    customers = list(Customer.objects.filter(reference__startswith="INCLIVE"))
    incident = _incident(tcast, customers, deal=deal)
    campaign = incident_notices_prepare(actor=tcast.compliance, incident=incident)
    notices.campaign_approve(actor=_officer(tcast), campaign=campaign)
    published: list[dict] = []

    def capture(body=None, headers=None, **_):
        if headers and headers.get("task", "").startswith("transfers.notice_tasks"):
            published.append({"body": body, "headers": headers})

    before_task_publish.connect(capture, weak=False)
    try:
        job = notices.campaign_send(actor=tcast.compliance, campaign=campaign)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.is_finished:
                break
            time.sleep(0.2)
    finally:
        before_task_publish.disconnect(capture)
    assert job.status == jobs.JobStatus.SUCCEEDED, job.error
    assert job.done == 20
    campaign.refresh_from_db()
    incident.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
    assert Notice.objects.filter(campaign=campaign, status=NoticeStatus.SENT).count() == 20
    assert incident.notices_sent == 20 and incident.customers_notified_at is not None
    assert incident.customers_notified_at - incident.detected_at < timedelta(minutes=5)
    assert published
    for message in published:
        args, kwargs, _embed = message["body"]
        assert all(_is_id(a) for a in (*args, *kwargs.values())), args
        assert "Customer " not in repr(message) and "@" not in repr(args)


@pytest.mark.django_db
def test_an_incident_notice_refused_by_the_mail_server_is_sent_again_once_corrected(
    cast, settings, eager_tasks, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.notices.backends.RefusingBackend"
    good, bad = (
        CustomerFactory(organization=cast.seller, email=address)
        for address in ("good@example.test", "bad7@example.test")
    )
    incident = _incident(cast, [good, bad])
    campaign = incident_notices_prepare(actor=cast.compliance, incident=incident)
    notices.campaign_approve(actor=_officer(cast), campaign=campaign)
    with django_capture_on_commit_callbacks(execute=True):
        notices.campaign_send(actor=cast.compliance, campaign=campaign)
    failed = campaign.notices.get(customer=bad)
    assert failed.status == NoticeStatus.FAILED and "550" in failed.failure_reason
    incident.refresh_from_db()
    assert incident.customers_notified_at is None  # someone is still waiting

    bad.email = "bad@example.test"
    bad.save()
    with django_capture_on_commit_callbacks(execute=True):
        job = notices.campaign_resend(actor=cast.compliance, campaign=campaign)
    job.refresh_from_db()
    failed.refresh_from_db()
    incident.refresh_from_db()
    assert job.status == jobs.JobStatus.SUCCEEDED and failed.status == NoticeStatus.SENT
    assert failed.attempts == 2
    assert incident.customers_notified_at is not None and incident.notices_sent == 2
