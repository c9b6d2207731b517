"""Objects the permission matrix needs for the notice and request-register URLs."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from transfers import notices, requests
from transfers.notice_models import Notice, NoticeStatus, RequestKind, RequestSource


def notices_world(cast) -> None:
    """A prepared campaign on the matrix deal, a notice waiting for a letter, a customer link
    and an open complaint (fulfilling it needs no other service)."""
    cast.notice_campaign = notices.campaign_prepare(
        actor=cast.broker, deal=cast.deal, objection_deadline=timezone.now() + timedelta(days=30)
    )
    cast.notice = Notice.objects.create(
        campaign=cast.notice_campaign, customer=cast.customer, status=NoticeStatus.MANUAL
    )
    link = notices.link_issue(actor=cast.broker, deal=cast.deal, customer=cast.customer)
    cast.notice_token = notices.link_token(link)
    cast.subject_request = requests.request_create(
        customer=cast.customer,
        deal=cast.deal,
        kind=RequestKind.COMPLAINT,
        source=RequestSource.CUSTOMER_PAGE,
        message="Matrix complaint",
    )
