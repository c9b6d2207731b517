"""Notice campaigns: the e-mail in both languages, four eyes, the notice period, manual list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone, translation

from customers.models import Customer
from tests.factories import CustomerFactory
from transferdesk.trail import AuditAction, AuditEvent
from transfers import notices, services
from transfers.choices import DealStatus, StageKind
from transfers.notice_models import CampaignStatus, NoticeCampaign, NoticeStatus

from .conftest import buyer_contact, customers_of, link_path, send_campaign

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]


def test_notice_email_in_both_languages_names_buyer_purposes_deadline_and_a_working_link(
    cast, deal, client, django_capture_on_commit_callbacks
):
    buyer_contact(cast.buyer_org)
    english, chinese = customers_of(cast.seller)
    campaign, job = send_campaign(cast, deal, django_capture_on_commit_callbacks)

    assert job.status == "succeeded" and job.done == 2
    assert len(mail.outbox) == 2
    by_recipient = {m.to[0]: m for m in mail.outbox}
    deadline = timezone.localtime(campaign.objection_deadline)
    for customer, language, date_mark in (
        (english, "en", str(deadline.year)),
        (chinese, "zh-hans", "年"),
    ):
        message = by_recipient[customer.email]
        html = message.alternatives[0][0]
        assert f'<html lang="{language}">' in html
        with translation.override(language):
            # Whatever the catalogue says today: the notice is in the customer's language.
            phrases = [translation.gettext("The new holder"), translation.gettext("When")]
        for body in (message.body, html):
            assert "Northwind Retail Group plc" in body
            assert "integration@northwind.example" in body
            assert "+44 20 7946 0000" in body
            assert deal.purposes in body
            assert date_mark in body and str(deadline.day) in body
            for phrase in phrases:
                assert phrase in body, (language, phrase)
        response = client.get(link_path(message.body))
        assert response.status_code == 200
        assert customer.full_name in response.content.decode()
        assert f'<html lang="{language}">' in response.content.decode()


def test_sending_opens_the_notice_period_and_closes_the_window_at_the_deadline(
    cast, deal, django_capture_on_commit_callbacks
):
    customers_of(cast.seller)
    campaign, _ = send_campaign(cast, deal, django_capture_on_commit_callbacks)
    deal.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
    assert deal.status == DealStatus.NOTICE_PERIOD
    assert deal.objection_window_closes_at == campaign.objection_deadline
    assert not deal.notice_window_closed
    deal.objection_window_closes_at = timezone.now() - timedelta(seconds=1)
    assert deal.notice_window_closed
    assert AuditEvent.objects.filter(action=AuditAction.NOTICE_SENT, object_id=str(campaign.pk))


def test_notices_need_a_compliance_officer_who_did_not_prepare_them(cast, deal):
    campaign = notices.campaign_prepare(
        actor=cast.broker, deal=deal, objection_deadline=timezone.now() + timedelta(days=30)
    )
    with pytest.raises(PermissionDenied):
        notices.campaign_approve(actor=cast.broker, campaign=campaign)
    campaign.prepared_by = cast.compliance
    campaign.save(update_fields=["prepared_by"])
    with pytest.raises(PermissionDenied):
        notices.campaign_approve(actor=cast.compliance, campaign=campaign)
    with pytest.raises(ValidationError):
        notices.campaign_send(actor=cast.broker, campaign=campaign)


def test_another_deals_broker_cannot_prepare_notices(cast, deal):
    with pytest.raises(PermissionDenied):
        notices.campaign_prepare(
            actor=cast.other_broker,
            deal=deal,
            objection_deadline=timezone.now() + timedelta(days=30),
        )


def test_customers_without_an_address_are_listed_for_a_letter_not_skipped(
    cast, deal, django_capture_on_commit_callbacks, client
):
    customers_of(cast.seller, languages=("en",))
    no_address = CustomerFactory(organization=cast.seller, email="")
    # Before the notices are sent, the page does not claim every address is usable.
    draft = notices.campaign_prepare(
        actor=cast.broker, deal=deal, objection_deadline=timezone.now() + timedelta(days=30)
    )
    client.force_login(cast.broker)
    page = client.get(f"/notices/{draft.pk}/").content.decode()
    assert "Every customer has a usable e-mail address" not in page
    assert "listed here once the notices are sent" in page
    draft.delete()
    campaign, job = send_campaign(cast, deal, django_capture_on_commit_callbacks)
    manual = campaign.notices.get(customer=no_address)
    assert manual.status == NoticeStatus.MANUAL
    assert job.total == 2
    client.force_login(cast.broker)
    page = client.get(f"/notices/{campaign.pk}/").content.decode()
    assert no_address.reference in page
    client.post(f"/notices/manual/{manual.pk}/", {"channel": "phone"})
    manual.refresh_from_db()
    assert manual.status == NoticeStatus.MANUAL_DONE and manual.channel == "phone"
    # Once recorded, the list says so; it does not claim every address was usable.
    page = client.get(f"/notices/{campaign.pk}/").content.decode()
    assert "The letter or call is recorded" in page
    assert "Every customer has a usable e-mail address" not in page


def test_a_changed_purpose_needs_consent_before_an_identified_stage(
    cast, deal, django_capture_on_commit_callbacks, client
):
    from tests.transfers.conftest import open_notice_window

    customer = CustomerFactory(
        organization=cast.seller, collection_purpose="Appliance warranty", phone="+8613800000001"
    )
    campaign, _ = send_campaign(cast, deal, django_capture_on_commit_callbacks)
    assert campaign.purpose_changed
    open_notice_window(deal)
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name="Contacts", kind=StageKind.IDENTIFIED,
        tier_scope=["general", "sensitive"],
    )  # fmt: skip
    services.stage_submit(actor=cast.broker, stage=stage)
    refusal = services.approval_refusal(actor=cast.compliance, stage=stage)
    assert refusal and "consent" in refusal
    token_path = link_path(mail.outbox[0].body)
    response = client.post(f"{token_path}act/", {"action": "consent"})
    assert response.status_code == 302
    assert services.approval_refusal(actor=cast.compliance, stage=stage) is None
    assert customer.pk


def test_a_campaign_whose_message_was_lost_is_sent_by_the_sweep(
    cast, deal, django_capture_on_commit_callbacks
):
    customers_of(cast.seller)
    campaign = notices.campaign_prepare(
        actor=cast.broker, deal=deal, objection_deadline=timezone.now() + timedelta(days=30)
    )
    notices.campaign_approve(actor=cast.compliance, campaign=campaign)
    with django_capture_on_commit_callbacks(execute=False):  # the message never leaves
        job = notices.campaign_send(actor=cast.broker, campaign=campaign)
    assert notices.sweep_campaigns() == 0  # too recent to call lost
    assert notices.sweep_campaigns(older_than=timedelta(0)) == 1
    job.refresh_from_db()
    campaign.refresh_from_db()
    assert job.status == "succeeded" and campaign.status == CampaignStatus.SENT
    assert len(mail.outbox) == 2


def test_an_identified_stage_waits_for_customers_not_yet_told(
    cast, deal, django_capture_on_commit_callbacks
):
    from tests.transfers.conftest import open_notice_window

    customers_of(cast.seller, languages=("en",))
    unreachable = CustomerFactory(organization=cast.seller, email="")
    campaign, _ = send_campaign(cast, deal, django_capture_on_commit_callbacks)
    open_notice_window(deal)
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name="Contacts", kind=StageKind.IDENTIFIED,
        tier_scope=["general", "sensitive"],
    )  # fmt: skip
    services.stage_submit(actor=cast.broker, stage=stage)
    refusal = services.approval_refusal(actor=cast.compliance, stage=stage)
    assert refusal and "not been told" in refusal
    manual = campaign.notices.get(customer=unreachable)
    notices.notice_mark_manual_done(actor=cast.broker, notice=manual, channel="letter")
    assert services.approval_refusal(actor=cast.compliance, stage=stage) is None


def test_prepared_notices_wait_in_the_approvals_queue_for_another_officer(cast, deal, client):
    """Campaign approvals used to be reachable only from the deal: the queue listed stages."""
    campaign = notices.campaign_prepare(
        actor=cast.broker, deal=deal, objection_deadline=timezone.now() + timedelta(days=30)
    )
    client.force_login(cast.compliance)
    queue = client.get(reverse("transfers:approval_queue")).content.decode()
    assert reverse("notices:campaign_detail", args=[campaign.pk]) in queue
    assert deal.reference in queue and "Transfer notice" in queue
    # Prepared by this officer: listed, but for another officer to decide.
    NoticeCampaign.objects.filter(pk=campaign.pk).update(prepared_by=cast.compliance)
    queue = client.get(reverse("transfers:approval_queue")).content.decode()
    assert reverse("notices:campaign_detail", args=[campaign.pk]) not in queue
    assert "Yours: another officer decides" in queue
    # Approved: it leaves the queue.
    NoticeCampaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.APPROVED)
    queue = client.get(reverse("transfers:approval_queue")).content.decode()
    assert "No notices waiting for approval" in queue


def test_a_customer_with_no_language_on_record_is_written_to_in_their_countrys(cast):
    """A seller's export without a language column: the letters and e-mails of customers in
    (or of a seller in) mainland China are in Simplified Chinese, others in English; a stored
    preference always wins."""
    customer = Customer(organization=cast.seller, preferred_language="", country="CN")
    assert notices.language_of(customer) == "zh-hans"
    customer.country = "GB"
    assert notices.language_of(customer) == "en"
    customer.country, cast.seller.country = "", "CN"
    assert notices.language_of(customer) == "zh-hans"
    customer.preferred_language = "en"
    assert notices.language_of(customer) == "en"
