"""Deals, customers and sent notice campaigns for the notice tests, built through services."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.utils import timezone

from tests.factories import CustomerFactory
from tests.transfers.conftest import deal, make_deal, roles, tcast  # noqa: F401 - shared fixtures
from transferdesk.celery import app
from transfers import notices

LINK = re.compile(r"https?://\S+/n/[^/\s]+/")


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counters live in the shared cache; each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def eager():
    """Run tasks in-process (the live-worker test covers the real worker)."""
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def buyer_contact(org):
    org.legal_name = "Northwind Retail Group plc"
    org.contact_name = "Integration office"
    org.contact_email = "integration@northwind.example"
    org.contact_phone = "+44 20 7946 0000"
    org.save()
    return org


def send_campaign(cast, the_deal, capture, *, deadline_days=30):
    """Prepare (broker), approve (compliance), send (broker); runs the job after commit."""
    campaign = notices.campaign_prepare(
        actor=cast.broker,
        deal=the_deal,
        objection_deadline=timezone.now() + timedelta(days=deadline_days),
    )
    notices.campaign_approve(actor=cast.compliance, campaign=campaign)
    with capture(execute=True):
        job = notices.campaign_send(actor=cast.broker, campaign=campaign)
    campaign.refresh_from_db()
    job.refresh_from_db()
    return campaign, job


def link_path(text):
    """The path of the personal link in a notice body."""
    match = LINK.search(text)
    assert match, "no personal link in the notice"
    return urlsplit(match.group(0)).path


def customers_of(org, languages=("en", "zh-hans")):
    return [
        CustomerFactory(
            organization=org,
            preferred_language=lang,
            full_name=f"Customer {lang}",
            phone="+8613800000000",
            postal_address="1 Example Road",
            national_id=f"ID-{i:06d}-X",
        )
        for i, lang in enumerate(languages)
    ]
