"""Screenshots of the compliance pages (explorer, dashboard, reports, reviews) in English and
Chinese, and page 2 of each report PDF, under ``var/screenshots/`` for people to look at.

The trail is built through the services (deals with Chinese names, a real aggregate handover
run in-process, accesses, an export, a review) with event times spread over the last weeks.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation
from playwright.sync_api import Page, expect

import transferdesk.trail.services
from audits.reports import render_report
from audits.reports.common import ReportParams
from audits.reviews import campaign_start, review_item_decide
from customers.choices import Tier
from tests.audits.reporting import make_customer, make_deal
from tests.e2e.browser import SCREENSHOT_DIR, screenshot, sign_in, use_language
from tests.e2e.conftest import ConsoleWatch
from tests.factories import PASSWORD, CustomerFactory
from tests.support.pdf_pages import render_pages
from transferdesk.trail import AuditAction, record_event
from transfers import services
from transfers.choices import StageKind

pytestmark = pytest.mark.browser


class _Clock:
    """Stands in for ``django.utils.timezone`` inside the chain writer, so that the seeded
    trail spans several weeks (events are still appended in order, by the real writer)."""

    def __init__(self, when):
        self.when = when

    def now(self):
        return self.when


@pytest.fixture
def trail(cast, monkeypatch, eager_tasks):
    deal = make_deal(cast)
    other = make_deal(cast, reference="D-2", title="华东区会员转让")
    customers = [make_customer(cast, reference=f"C-{i:03d}") for i in range(3)]
    for i in range(12):
        CustomerFactory(organization=cast.seller, reference=f"B-{i:03d}", segment="retail")
    stage = services.stage_create(
        actor=cast.broker,
        deal=deal,
        name="统计概览",
        kind=StageKind.AGGREGATE,
        tier_scope=[Tier.GENERAL],
    )
    services.stage_submit(actor=cast.broker, stage=stage)
    services.stage_approve(actor=cast.compliance, stage=stage, note="Reviewed")
    services.stage_create(
        actor=cast.broker,
        deal=other,
        name="Pseudonymised book",
        kind=StageKind.PSEUDONYMISED,
        tier_scope=[Tier.GENERAL],
    )
    start = timezone.now() - timedelta(days=27)
    actions = [
        AuditAction.VIEW_SENSITIVE,
        AuditAction.VIEW_CORE,
        AuditAction.PORTAL_VIEW,
        AuditAction.SIGN_IN,
        AuditAction.EXPORT,
        AuditAction.UPDATE,
    ]
    for day in range(28):
        for k in range((day * 7) % 11 + 2):
            clock = _Clock(start + timedelta(days=day, minutes=k))
            monkeypatch.setattr(transferdesk.trail.services, "timezone", clock)
            record_event(
                action=actions[(day + k) % len(actions)],
                actor=cast.broker if k % 3 else cast.buyer,
                obj=customers[k % 3],
                deal=deal if k % 4 else other,
                details={"fields": ["email", "phone"]},
            )
    monkeypatch.setattr(transferdesk.trail.services, "timezone", timezone)
    campaign = campaign_start(
        actor=cast.compliance,
        name="2026 年第四季度权限审查",
        deadline=timezone.now() + timedelta(days=2),
    )
    for item in campaign.items.all()[:2]:
        review_item_decide(actor=cast.compliance, item=item, decision="keep", reason="仍在项目组")
    revoke = campaign.items.filter(permission="access_portal").first()
    review_item_decide(actor=cast.compliance, item=revoke, decision="revoke", reason="竞标结束")
    cast.deal, cast.campaign = deal, campaign
    return cast


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_screenshots_of_the_compliance_pages(
    trail, page: Page, live_server, console: ConsoleWatch, lang: str
) -> None:
    use_language(page, live_server.url, lang)
    sign_in(page, "compliance", PASSWORD)

    page.goto("/compliance/")
    expect(page.locator("svg.td-chart")).to_be_visible()
    assert screenshot(page, "compliance-dashboard").stat().st_size > 10_000
    page.goto("/compliance/events/")
    expect(page.locator("table.td-events")).to_be_visible()
    assert screenshot(page, "audit-explorer").stat().st_size > 10_000
    page.goto("/compliance/events/?deal=D-1&action=view_core")
    screenshot(page, "audit-explorer-filtered")
    page.goto("/compliance/deals/D-1/timeline/")
    screenshot(page, "audit-deal-timeline")
    page.goto(f"/compliance/reviews/{trail.campaign.pk}/?show=all")
    screenshot(page, "access-review")
    page.goto("/compliance/reports/")
    screenshot(page, "reports")
    assert console.take() == []


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
@pytest.mark.parametrize(
    "kind, params",
    [
        ("deal_audit", {"deal": "D-1"}),
        ("access", {"by": "customer"}),
        ("processing", {"deal": "D-1"}),
        ("access_review", {}),
    ],
)
def test_page_two_of_each_report_pdf(trail, compiled_catalogues, kind, params, lang) -> None:
    if kind == "access_review":
        params = {"campaign": trail.campaign.pk}
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    pdf = SCREENSHOT_DIR / f"report-{kind}-{lang}.pdf"
    with translation.override(lang):
        render_report(
            kind=kind,
            params=ReportParams(**params),
            target=str(pdf),
            generated_by="王芳 (compliance)",
        )
    prefix = SCREENSHOT_DIR / f"report-{kind}-{lang}"
    render_pages(pdf, prefix, first=2, last=2, single=True)
    assert prefix.with_suffix(".png").stat().st_size > 5_000
