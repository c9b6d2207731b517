"""Screenshots of the notice e-mail, the customer page and its confirmation, the campaign
progress and the request register, in English and Chinese (``var/screenshots/``).

The customer's pages follow the customer's preferred language; the staff pages follow the
interface language. Each page is checked for its language, a heading and console errors (a
CSP violation is one).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import Page, expect

from customers.choices import Tier
from tests.e2e.browser import screenshot, sign_in, use_language
from tests.e2e.conftest import ConsoleWatch
from tests.factories import PASSWORD, CustomerFactory
from transferdesk import jobs
from transferdesk.celery import app
from transfers import notices, requests, services
from transfers.choices import AssignmentRole, StageKind
from transfers.notice_models import DataSubjectRequest, NoticeCampaign, RequestKind, RequestSource

from ..conftest import link_path

pytestmark = pytest.mark.browser

LANGS = {"en": "en", "zh-hans": "zh-hans"}


def _shoot(page: Page, console: ConsoleWatch, name: str, lang: str, status: int = 0) -> None:
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("h1").first).to_be_visible()
    path = screenshot(page, name)
    assert path.stat().st_size > 10_000, f"{path} looks blank"
    # A page that answers 403 itself is logged by Chromium as a failed resource.
    errors = [e for e in console.take() if not (status and f"status of {status}" in e)]
    assert errors == [], f"console errors on {name} ({lang})"


def _world(cast):
    org = cast.buyer_org
    org.legal_name = "Northwind Retail Group plc"
    org.contact_name = "Integration office"
    org.contact_email = "integration@northwind.example"
    org.contact_phone = "+44 20 7946 0000"
    org.address = "1 Canada Square, London E14 5AB"
    org.save()
    cast.seller.legal_name = "Meridian Home Appliances Co., Ltd. 美瑞家电有限公司"
    cast.seller.contact_email = "privacy@meridian.example"
    cast.seller.save()
    deal = services.deal_create(
        actor=cast.broker, reference="MER-NW-2026", title="Meridian service book",
        seller=cast.seller, buyer=org,
        purposes="Continue warranty and repair service for Meridian's customers.",
        legal_basis="Legitimate interests (GDPR art. 6(1)(f))",
    )  # fmt: skip
    services.deal_assign(actor=cast.broker, deal=deal, user=cast.buyer, role=AssignmentRole.BUYER)
    services.deal_assign(
        actor=cast.broker, deal=deal, user=cast.compliance, role=AssignmentRole.COMPLIANCE
    )
    people = {
        "en": CustomerFactory(
            organization=cast.seller, reference="MRD-00001", full_name="Grace Hall",
            email="grace@example.com", phone="+8613800138000", city="Shanghai", country="CN",
            segment="retail", preferred_language="en", postal_address="8 Bund Road, Shanghai",
            national_id="110101199003077777", preferences="Call after 6 pm",
        ),
        "zh-hans": CustomerFactory(
            organization=cast.seller, reference="MRD-00002", full_name="欧阳娜娜",
            email="ouyang@example.cn", phone="+8613900139000", city="上海", country="CN",
            segment="retail", preferred_language="zh-hans",
            postal_address="上海市黄浦区南京东路1号", national_id="110101199103088888",
        ),
    }  # fmt: skip
    for name, kind, tiers in (
        ("Book overview by segment", StageKind.AGGREGATE, [Tier.GENERAL]),
        ("Contact details for service continuity", StageKind.IDENTIFIED,
         [Tier.GENERAL, Tier.SENSITIVE]),
    ):  # fmt: skip
        services.stage_create(actor=cast.broker, deal=deal, name=name, kind=kind, tier_scope=tiers)
    campaign = notices.campaign_prepare(
        actor=cast.broker, deal=deal, objection_deadline=timezone.now() + timedelta(days=30)
    )
    notices.campaign_approve(actor=cast.compliance, campaign=campaign)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        notices.campaign_send(actor=cast.broker, campaign=campaign)
    finally:
        app.conf.task_always_eager = eager
    # A second, larger campaign caught mid-run for the progress bar.
    running = NoticeCampaign.objects.create(
        deal=deal, objection_deadline=timezone.now() + timedelta(days=30),
        categories=campaign.categories, stages_planned=campaign.stages_planned,
        prepared_by=cast.broker, approved_by=cast.compliance, status="sending",
    )  # fmt: skip
    job = jobs.job_create(kind=notices.JOB_KIND, actor=cast.broker, total=10_000, obj=running)
    jobs.job_start(job_id=job.pk)
    jobs.job_progress(job_id=job.pk, done=6_400)
    NoticeCampaign.objects.filter(pk=running.pk).update(job=job)
    # The register: an objection, an open correction, an overdue complaint.
    requests.request_create(
        customer=people["en"], deal=deal, kind=RequestKind.CORRECTION,
        source=RequestSource.EMAIL, field_name="postal_address",
        requested_value="Room 1203, 88 Century Avenue, Shanghai",
    )  # fmt: skip
    late = requests.request_create(
        customer=people["zh-hans"], deal=deal, kind=RequestKind.COMPLAINT,
        source=RequestSource.LETTER, message="电话太多",
    )  # fmt: skip
    DataSubjectRequest.objects.filter(pk=late.pk).update(
        received_at=timezone.now() - timedelta(days=20), due_at=timezone.now() - timedelta(days=5)
    )
    return deal, campaign, running, people


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_screenshots_of_the_notice_pages(
    cast, page: Page, live_server, console: ConsoleWatch, lang: str
) -> None:
    mail.outbox.clear()
    _deal, campaign, running, people = _world(cast)
    customer = people[lang]
    message = next(m for m in mail.outbox if m.to == [customer.email])

    # The e-mail as the customer receives it (its HTML part).
    page.set_content(message.alternatives[0][0])
    _shoot(page, console, "notice-email", lang)

    # The customer page, then a correction and its confirmation.
    page.goto(link_path(message.body))
    expect(page.get_by_text(customer.full_name).first).to_be_visible()
    _shoot(page, console, "notice-customer-page", lang)
    page.select_option("#field_name", "phone")
    page.fill("#requested_value", "+86 139 0000 0000")
    with page.expect_navigation():
        page.click("form:has(#requested_value) button[type=submit]")
    _shoot(page, console, "notice-confirmation", lang)

    # The customer reads the page in the other language with the page's own switch.
    other = "zh-hans" if lang == "en" else "en"
    page.goto(link_path(message.body))
    with page.expect_navigation():
        page.locator(f"button[name=language][value={other}]").click()
    expect(page.locator("html")).to_have_attribute("lang", other)
    expect(page.get_by_text(customer.full_name).first).to_be_visible()
    _shoot(page, console, "notice-customer-page-switched", other)

    # A tampered link: no customer is known, so the page follows the browser's language.
    use_language(page, live_server.url, lang)
    console.allow("status of 403")
    page.goto(link_path(message.body).rstrip("/") + "x/")
    _shoot(page, console, "notice-invalid-link", lang, status=403)

    # Staff pages in the interface language.
    sign_in(page, cast.broker.username, PASSWORD)
    page.goto(f"/notices/{running.pk}/")
    expect(page.locator("progress").first).to_be_visible()
    _shoot(page, console, "notice-campaign-progress", lang)
    page.goto(f"/notices/{campaign.pk}/")
    _shoot(page, console, "notice-campaign-sent", lang)
    page.context.clear_cookies()
    use_language(page, live_server.url, lang)
    sign_in(page, cast.compliance.username, PASSWORD)
    page.goto("/requests/?show=all")
    expect(page.locator("tr.table-danger")).to_have_count(1)
    _shoot(page, console, "request-register", lang)
    first = DataSubjectRequest.objects.filter(kind=RequestKind.CORRECTION).first()
    page.goto(f"/requests/{first.pk}/")
    _shoot(page, console, "request-detail", lang)
