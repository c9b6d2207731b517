"""Letters for the customers no e-mail reaches: printed from the campaign page as one PDF, a
page each in the customer's language, with the personal link written out and as a QR code
that a phone camera opens; then each letter is recorded as sent. No shell step."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from io import BytesIO

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.e2e.browser import SCREENSHOT_DIR, screenshot, sign_in, use_language
from tests.factories import PASSWORD, CustomerFactory
from tests.support.pdf_pages import qr_codes
from transferdesk.celery import app
from transferdesk.trail import AuditAction, AuditEvent
from transfers import notices, services
from transfers.choices import AssignmentRole
from transfers.notice_models import Notice, NoticeLink, NoticeStatus

pytestmark = pytest.mark.browser


def _campaign_with_letters(cast):
    deal = services.deal_create(
        actor=cast.broker, reference="MER-LTR", title="Letters", seller=cast.seller,
        buyer=cast.buyer_org, purposes="Service continuity.", legal_basis="Contract",
    )  # fmt: skip
    services.deal_assign(
        actor=cast.broker, deal=deal, user=cast.compliance, role=AssignmentRole.COMPLIANCE
    )
    CustomerFactory(organization=cast.seller, reference="L-1", full_name="Mail Reader",
                    email="reader@example.com", preferred_language="en")  # fmt: skip
    people = {
        "en": CustomerFactory(
            organization=cast.seller, reference="L-2", full_name="Arthur Post", email="",
            preferred_language="en", postal_address="12 High Street, York YO1 7HH",
        ),
        "zh-hans": CustomerFactory(
            organization=cast.seller, reference="L-3", full_name="王小明", email="",
            preferred_language="zh-hans", postal_address="上海市黄浦区南京东路1号",
        ),
    }  # fmt: skip
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
    return campaign, people


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_the_broker_prints_the_letters_and_records_them(
    cast, page: Page, live_server, console, tmp_path, settings, lang
):
    settings.PUBLIC_BASE_URL = live_server.url
    campaign, people = _campaign_with_letters(cast)
    assert Notice.objects.filter(campaign=campaign, status=NoticeStatus.MANUAL).count() == 2
    use_language(page, live_server.url, lang)
    sign_in(page, cast.broker.username, PASSWORD)
    page.goto(f"/notices/{campaign.pk}/")
    expect(page.get_by_text("manage.py")).to_have_count(0)
    screenshot(page, "notice-letters-to-print")

    with page.expect_download() as download:
        page.locator(f"form[action='/notices/{campaign.pk}/letters.pdf'] button").first.click()
    pdf = open(download.value.path(), "rb").read()  # noqa: SIM115 - the download's own file
    reader = PdfReader(BytesIO(pdf))
    assert len(reader.pages) == 2
    texts = [p.extract_text() for p in reader.pages]
    english = next(t for t in texts if "Arthur Post" in t)
    chinese = next(t for t in texts if "王小明" in t)
    assert "12 High Street" in english and "You can object until" in english
    assert "上海市黄浦区南京东路1号" in chinese and "您可以在" in chinese
    # Each QR code opens that customer's own page, in their language.
    codes = qr_codes(pdf, tmp_path)
    assert all(code.startswith(live_server.url + "/n/") for code in codes), codes
    shown = 1 + texts.index(chinese if lang == "zh-hans" else english)
    shutil.copy(tmp_path / f"page-{shown}.png", SCREENSHOT_DIR / f"notice-letter-{lang}.png")
    for code in codes:
        link = notices.link_resolve(code.rsplit("/n/", 1)[1].rstrip("/"))
        assert link.customer_id in {people["en"].pk, people["zh-hans"].pk}
    page.goto(codes[0])
    expect(page.locator("h1")).to_contain_text(re.compile("Arthur Post|王小明"))
    # The print is audited without names or addresses; a reprint reuses the links.
    event = AuditEvent.objects.filter(action=AuditAction.EXPORT, object_id=str(campaign.pk)).get()
    assert event.details["letters"] == 2 and "Arthur" not in str(event.details)
    links = NoticeLink.objects.filter(deal=campaign.deal, revoked_at__isnull=True).count()
    notices_ids = list(Notice.objects.filter(campaign=campaign).values_list("pk", flat=True))
    from transfers.letters import campaign_letters

    campaign_letters(actor=cast.broker, campaign=campaign, notice_ids=notices_ids)
    assert NoticeLink.objects.filter(deal=campaign.deal, revoked_at__isnull=True).count() == links

    # Recorded as sent, one by one, from the same page.
    page.goto(f"/notices/{campaign.pk}/")
    with page.expect_navigation():
        page.locator("form[action$='/done/'] button, form[action*='/manual/'] button").first.click()
    assert Notice.objects.filter(campaign=campaign, status=NoticeStatus.MANUAL_DONE).count() == 1
    screenshot(page, "notice-letters-one-recorded")
    assert console.take() == []
