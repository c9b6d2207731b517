"""Demo data for notices: a sent campaign on the demo deal, one objection, one open correction.

Called at the end of ``seed_demo``; idempotent (a second run finds what the first made). Runs
through the services, so the demo's audit trail looks like real use.
"""

from __future__ import annotations

from datetime import timedelta

from django.test import override_settings
from django.utils import timezone

from accounts.models import User
from customers.choices import CustomerStatus

from . import notices, requests
from .models import TransferDeal
from .notice_models import CampaignStatus, DataSubjectRequest, RequestKind, RequestSource

DEMO_SELLER = "meridian"


def seed_notices() -> str:
    """Make the demo state; returns a one-line summary (or why nothing was done)."""
    deal = TransferDeal.objects.filter(seller__slug=DEMO_SELLER).order_by("created_at").first()
    broker = User.objects.filter(username="broker").first()
    officer = User.objects.filter(username="compliance").first()
    if deal is None or broker is None or officer is None:
        return "notices: no demo deal yet"
    campaign = deal.notice_campaigns.order_by("-prepared_at").first()
    if campaign is None:
        campaign = notices.campaign_prepare(
            actor=broker, deal=deal, objection_deadline=timezone.now() + timedelta(days=30)
        )
    if campaign.status == CampaignStatus.DRAFT:
        campaign = notices.campaign_approve(actor=officer, campaign=campaign)
    if campaign.status == CampaignStatus.APPROVED:
        # Demo addresses are fictitious: keep thousands of notices out of the console.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            notices.campaign_send(actor=broker, campaign=campaign)
    customers = (
        deal.seller.customers.exclude(email_bidx="")
        .filter(status__in=(CustomerStatus.ACTIVE, CustomerStatus.OBJECTED))
        .order_by("reference")
    )
    existing = DataSubjectRequest.objects.filter(deal=deal)
    if not existing.filter(kind=RequestKind.OBJECTION).exists() and customers.exists():
        requests.request_create(
            customer=customers[0],
            deal=deal,
            kind=RequestKind.OBJECTION,
            source=RequestSource.CUSTOMER_PAGE,
        )
    if not existing.filter(kind=RequestKind.CORRECTION).exists() and customers.count() > 1:
        requests.request_create(
            customer=customers[1],
            deal=deal,
            kind=RequestKind.CORRECTION,
            source=RequestSource.EMAIL,
            field_name="postal_address",
            requested_value="Room 1203, 88 Century Avenue, Pudong, Shanghai",
        )
    campaign.refresh_from_db()
    return f"notices: campaign {campaign.status} on {deal.reference}, {existing.count()} requests"
