"""Access-review campaigns: the snapshot of every grant, revocations that take effect at once,
grants that expire when nobody keeps them, reminders, and the campaign's report — each checked
on the page, in the permission tables, in the chain and in the PDF."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import get_user_perms

from audits.models import AccessReviewItem, AccessReviewReminder, CampaignStatus, ReviewDecision
from audits.reports import render_report
from audits.reports.common import ReportParams
from audits.reviews import (
    EXPIRED_REASON,
    campaign_expire_due,
    campaign_send_reminders,
    campaign_start,
    grant_models,
    review_item_decide,
)
from audits.tasks import access_review_expire_task
from customers.models import OrganizationUserObjectPermission
from customers.services import organization_grant
from tests.audits.reporting import make_deal, pdf_text
from transferdesk.trail import AuditAction, AuditEvent
from transfers.models import TransferDealUserObjectPermission

pytestmark = pytest.mark.django_db


@pytest.fixture
def grants(cast):
    """The buyer holds deal permissions on D-1; the broker holds one organisation permission."""
    deal = make_deal(cast)
    organization_grant(
        actor=cast.admin, user=cast.broker, organization=cast.seller, permission="manage_customers"
    )
    cast.deal = deal
    return cast


def start(cast, days=7):
    return campaign_start(
        actor=cast.compliance, name="Q4 review", deadline=timezone.now() + timedelta(days=days)
    )


def item_for(campaign, user, permission):
    return campaign.items.get(user=user, permission=permission)


def test_the_permission_models_are_discovered_generically():
    labels = {m._meta.label for m in grant_models()}
    assert "transfers.TransferDealUserObjectPermission" in labels
    assert "customers.OrganizationUserObjectPermission" in labels
    assert "guardian.UserObjectPermission" in labels


def test_a_campaign_snapshots_every_user_deal_and_organisation_permission(grants):
    campaign = start(grants)

    deal_grants = TransferDealUserObjectPermission.objects.count()
    org_grants = OrganizationUserObjectPermission.objects.count()
    assert campaign.items.count() == deal_grants + org_grants
    buyer_item = item_for(campaign, grants.buyer, "access_portal")
    assert buyer_item.object_label == "D-1"
    assert buyer_item.deal_ref == str(grants.deal.pk)
    assert buyer_item.object_type == "transfers.transferdeal"
    org_item = item_for(campaign, grants.broker, "manage_customers")
    assert org_item.object_type == "customers.organization"
    assert org_item.object_label == grants.seller.legal_name
    assert set(campaign.items.values_list("decision", flat=True)) == {ReviewDecision.PENDING}
    started = AuditEvent.objects.order_by("-seq").first()
    assert started.action == AuditAction.ACCESS_REVIEW_DECISION
    assert started.details["step"] == "started"


def test_revoking_removes_the_permission_at_once_and_writes_revoke_and_decision_events(grants):
    campaign = start(grants)
    item = item_for(campaign, grants.buyer, "access_portal")
    assert "access_portal" in get_user_perms(grants.buyer, grants.deal)

    review_item_decide(
        actor=grants.compliance, item=item, decision="revoke", reason="Left the bid team"
    )

    assert "access_portal" not in get_user_perms(grants.buyer, grants.deal)
    assert "view_transferdeal" in get_user_perms(grants.buyer, grants.deal)  # not reviewed yet
    item.refresh_from_db()
    assert (item.decision, item.reason, item.decided_by) == (
        "revoke", "Left the bid team", grants.compliance,
    )  # fmt: skip
    revoke, decision = AuditEvent.objects.order_by("-seq")[:2][::-1]
    assert revoke.action == AuditAction.REVOKE
    assert revoke.actor == grants.compliance
    assert revoke.deal_ref == str(grants.deal.pk)
    assert revoke.details["permission"] == "access_portal"
    assert revoke.details["user"] == grants.buyer.pk
    assert revoke.details["removed"] is True
    assert decision.action == AuditAction.ACCESS_REVIEW_DECISION
    assert decision.details["decision"] == "revoke"
    assert "Left the bid team" not in str(revoke.details) + str(decision.details)


def test_the_buyer_loses_the_portal_once_the_reviewer_revokes(grants, client):
    from transfers.models import TransferDeal

    campaign = start(grants)
    assert TransferDeal.objects.restrict(grants.buyer, "portal").filter(pk=grants.deal.pk).exists()
    review_item_decide(
        actor=grants.compliance,
        item=item_for(campaign, grants.buyer, "access_portal"),
        decision="revoke",
        reason="No longer bidding",
    )
    assert not TransferDeal.objects.restrict(grants.buyer, "portal").exists()


def test_keeping_leaves_the_permission_and_a_grant_is_decided_only_once(grants):
    campaign = start(grants)
    item = item_for(campaign, grants.broker, "manage_customers")

    review_item_decide(actor=grants.compliance, item=item, decision="keep", reason="Still needed")
    with pytest.raises(ValidationError):
        review_item_decide(actor=grants.compliance, item=item, decision="revoke", reason="x")

    assert "manage_customers" in get_user_perms(grants.broker, grants.seller)
    item.refresh_from_db()
    assert item.decision == ReviewDecision.KEEP


def test_a_decision_needs_a_reason(grants):
    campaign = start(grants)
    with pytest.raises(ValidationError):
        review_item_decide(
            actor=grants.compliance, item=campaign.items.first(), decision="keep", reason=" "
        )


def test_unconfirmed_grants_expire_at_the_deadline_and_kept_ones_stay(grants):
    campaign = start(grants, days=2)
    kept = item_for(campaign, grants.broker, "manage_customers")
    review_item_decide(actor=grants.compliance, item=kept, decision="keep", reason="Needed")
    pending = campaign.items.filter(decision=ReviewDecision.PENDING).count()
    assert pending > 0

    assert campaign_expire_due(now=timezone.now() + timedelta(days=1)) == 0  # not yet due
    assert "access_portal" in get_user_perms(grants.buyer, grants.deal)

    assert campaign_expire_due(now=campaign.deadline + timedelta(seconds=1)) == pending

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CLOSED
    assert get_user_perms(grants.buyer, grants.deal).count() == 0
    assert "manage_customers" in get_user_perms(grants.broker, grants.seller)
    expired = campaign.items.filter(decision=ReviewDecision.EXPIRED)
    assert expired.count() == pending
    assert set(expired.values_list("reason", flat=True)) == {EXPIRED_REASON}
    revokes = AuditEvent.objects.filter(action=AuditAction.REVOKE, details__campaign=campaign.pk)
    assert revokes.count() == pending
    assert {e.details["reason"] for e in revokes} == {EXPIRED_REASON}
    assert {e.actor_id for e in revokes} == {None}
    # a second sweep finds nothing more to do
    assert campaign_expire_due(now=campaign.deadline + timedelta(days=1)) == 0


def test_the_beat_task_runs_the_expiry(grants):
    campaign = start(grants)
    type(campaign).objects.filter(pk=campaign.pk).update(
        deadline=timezone.now() - timedelta(minutes=1)
    )
    assert access_review_expire_task.apply().get() == campaign.items.count()


def test_a_reviewer_is_reminded_once_a_day_before_the_deadline(grants, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    campaign = start(grants, days=2)
    far = start(grants, days=20)

    assert campaign_send_reminders() == 1
    assert campaign_send_reminders() == 0  # same day: nothing again
    tomorrow = timezone.now() + timedelta(days=1)
    assert campaign_send_reminders(now=tomorrow) == 1

    assert len(mail.outbox) == 2
    assert mail.outbox[0].to == [grants.compliance.email]
    assert "Q4 review" in mail.outbox[0].subject
    assert AccessReviewReminder.objects.filter(campaign=campaign).count() == 2
    assert not AccessReviewReminder.objects.filter(campaign=far).exists()


def test_the_campaign_report_shows_revoked_and_expired_grants_and_their_events(grants):
    campaign = start(grants)
    review_item_decide(
        actor=grants.compliance,
        item=item_for(campaign, grants.buyer, "access_portal"),
        decision="revoke",
        reason="离开竞标团队",
    )
    campaign_expire_due(now=campaign.deadline + timedelta(seconds=1))

    out = io.BytesIO()
    render_report(
        kind="access_review",
        params=ReportParams(campaign=campaign.pk),
        target=out,
        generated_by="compliance",
    )
    text = pdf_text(out.getvalue())[1]

    assert "Q4 review" in text
    assert "离开竞标团队" in text
    assert "Revoked" in text
    assert "Expired in review" in text
    assert EXPIRED_REASON in text
    assert "Permission revoked" in text  # the REVOKE events, from the chain
    assert "Access review decision" in text


def test_the_reviewer_revokes_from_the_campaign_page(grants, client):
    client.force_login(grants.compliance)
    response = client.post(
        reverse("audits:review_create"),
        {"name": "Page review", "deadline": (timezone.localdate() + timedelta(days=5)).isoformat(),
         "reviewer": grants.compliance.pk},
    )  # fmt: skip
    campaign = AccessReviewItem.objects.first().campaign
    assert response["Location"] == reverse("audits:review_detail", args=[campaign.pk])
    page = client.get(response["Location"]).content.decode()
    # The permission and the object type in words, not as codes.
    assert "D-1" in page and "Can open the deal in the buyer portal" in page
    assert ">access_portal<" not in page and ">transfers.transferdeal<" not in page
    item = item_for(campaign, grants.buyer, "access_portal")

    decided = client.post(
        reverse("audits:review_decide", args=[campaign.pk, item.pk]),
        {"decision": "revoke", "reason": "Bid lost"},
        follow=True,
    )

    assert "Revoked: the permission was removed." in decided.content.decode()
    assert "access_portal" not in get_user_perms(grants.buyer, grants.deal)


def test_nobody_reviews_their_own_permission(grants, client):
    """Four eyes: the broker's own grant is decided by another compliance officer."""
    from accounts.choices import Role
    from tests.factories import UserFactory

    officer = UserFactory(username="officer-with-grant", roles=[Role.COMPLIANCE])
    organization_grant(
        actor=grants.admin, user=officer, organization=grants.seller,
        permission="manage_customers",
    )  # fmt: skip
    campaign = start(grants)
    own = item_for(campaign, officer, "manage_customers")
    with pytest.raises(ValidationError, match="your own permission"):
        review_item_decide(actor=officer, item=own, decision="keep", reason="I need it")
    client.force_login(officer)
    page = client.get(reverse("audits:review_detail", args=[campaign.pk])).content.decode()
    assert "another compliance officer decides it" in page
    assert reverse("audits:review_decide", args=[campaign.pk, own.pk]) not in page
    refused = client.post(
        reverse("audits:review_decide", args=[campaign.pk, own.pk]),
        {"decision": "keep", "reason": "I need it"},
        follow=True,
    )
    assert "your own permission" in refused.content.decode()
    own.refresh_from_db()
    assert own.decision == ReviewDecision.PENDING
    # Another officer decides it.
    review_item_decide(actor=grants.compliance, item=own, decision="keep", reason="Needed")
    own.refresh_from_db()
    assert own.decision == ReviewDecision.KEEP
