"""A deadline once told can only move later: a second notice campaign may extend the
customers' objection deadline, never shorten it, and the customer page shows the latest one
they were told."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone, translation

from transfers import notices
from transfers.models import TransferDeal
from transfers.notice_models import CampaignStatus, NoticeCampaign

from .conftest import customers_of, send_campaign

pytestmark = pytest.mark.django_db


def _text(deadline, customer) -> str:
    """The deadline as the customer's page writes it: in the customer's language, whatever
    language an earlier test left active."""
    with translation.override(notices.language_of(customer)):
        return notices.deadline_text(deadline)


def _customer_page(client, deal, customer) -> str:
    link = notices.link_issue(actor=None, deal=deal, customer=customer)
    response = client.get(f"/n/{notices.link_token(link)}/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_second_campaign_cannot_shorten_the_deadline_customers_were_told(
    cast, deal, client, eager, django_capture_on_commit_callbacks
):
    first, _second = customers_of(cast.seller)
    campaign, _job = send_campaign(cast, deal, django_capture_on_commit_callbacks, deadline_days=40)
    told = campaign.objection_deadline
    assert _text(told, first) in _customer_page(client, deal, first)

    # Through the broker's page: the form says why, and nothing is prepared.
    client.force_login(cast.broker)
    earlier = timezone.localtime(told - timedelta(days=21)).strftime("%Y-%m-%dT%H:%M")
    url = reverse("notices:campaign_list", args=[deal.pk])
    page = client.get(url).content.decode()
    assert "A new campaign can extend that deadline, never shorten it." in page
    response = client.post(url, {"objection_deadline": earlier}, follow=True)
    assert "A deadline once told can only move later" in response.content.decode()
    assert NoticeCampaign.objects.filter(deal=deal).count() == 1
    # And the service itself refuses, whoever calls it.
    with pytest.raises(ValidationError, match="can only move later"):
        notices.campaign_prepare(
            actor=cast.broker, deal=deal, objection_deadline=told - timedelta(days=21)
        )
    client.logout()
    assert _text(told, first) in _customer_page(client, deal, first)


def test_a_campaign_prepared_earlier_with_a_shorter_deadline_cannot_be_sent_after_a_longer_one(
    cast, deal, eager, django_capture_on_commit_callbacks
):
    customers_of(cast.seller)
    short = notices.campaign_prepare(
        actor=cast.broker, deal=deal, objection_deadline=timezone.now() + timedelta(days=20)
    )
    notices.campaign_approve(actor=cast.compliance, campaign=short)
    long, _job = send_campaign(cast, deal, django_capture_on_commit_callbacks, deadline_days=40)
    with pytest.raises(ValidationError, match="can only move later"):
        notices.campaign_send(actor=cast.broker, campaign=short)
    short.refresh_from_db()
    assert short.status == CampaignStatus.APPROVED
    deal = TransferDeal.objects.get(pk=deal.pk)
    assert deal.objection_window_closes_at == long.objection_deadline


def test_a_later_campaign_extends_the_deadline_on_the_customer_page(
    cast, deal, client, eager, django_capture_on_commit_callbacks
):
    first, _second = customers_of(cast.seller)
    send_campaign(cast, deal, django_capture_on_commit_callbacks, deadline_days=30)
    later, _job = send_campaign(cast, deal, django_capture_on_commit_callbacks, deadline_days=60)
    page = _customer_page(client, deal, first)
    assert _text(later.objection_deadline, first) in page
    assert (
        TransferDeal.objects.get(pk=deal.pk).objection_window_closes_at == later.objection_deadline
    )


def test_the_customer_page_shows_the_latest_deadline_told_even_if_a_later_campaign_said_less(
    cast, deal, client, eager, django_capture_on_commit_callbacks
):
    """The state the defect left behind (2027-01-01, then 2026-12-10): the page keeps the
    deadline the customer was told first."""
    first, _second = customers_of(cast.seller)
    told, _job = send_campaign(cast, deal, django_capture_on_commit_callbacks, deadline_days=40)
    shorter, _job = send_campaign(cast, deal, django_capture_on_commit_callbacks, deadline_days=45)
    NoticeCampaign.objects.filter(pk=shorter.pk).update(
        objection_deadline=told.objection_deadline - timedelta(days=22)
    )
    page = _customer_page(client, deal, first)
    assert _text(told.objection_deadline, first) in page
