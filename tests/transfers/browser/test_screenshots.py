"""Screenshots of the deal pages in English and Chinese, and a rendered receipt page.

Saved to ``var/screenshots/`` (git-ignored) for people to look at: the deal page with a running
stage's progress bar, the stage planner's preview, the approval queue, and the first page of a
handover receipt PDF. Each page is also checked for console errors (CSP violations included).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation
from playwright.sync_api import Page, expect

from tests.e2e.browser import SCREENSHOT_DIR, screenshot, sign_in, sign_out, use_language
from tests.support.pdf_pages import render_pages
from transferdesk.management.commands.seed_demo import DEMO_PASSWORD
from transfers import services
from transfers.choices import StageKind, StageStatus
from transfers.models import HandoverStage, TransferDeal

pytestmark = pytest.mark.browser


def _stage_in_flight(deal: TransferDeal) -> HandoverStage:
    """The demo's approved pseudonymised stage shown mid-run (no worker runs in this test)."""
    stage = deal.stages.get(kind=StageKind.PSEUDONYMISED)
    HandoverStage.objects.filter(pk=stage.pk).update(
        status=StageStatus.RUNNING,
        done=183,
        total=297,
        started_at=timezone.now() - timedelta(seconds=40),
        heartbeat_at=timezone.now(),
    )
    return stage


def _shoot(page: Page, console, name: str) -> None:
    page.wait_for_load_state("networkidle")
    path = screenshot(page, name)
    assert path.stat().st_size > 10_000, f"{path} looks blank"
    assert console.take() == []


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_screenshots_of_the_deal_pages(demo_users, page, live_server, console, lang):
    deal = TransferDeal.objects.get(reference="MER-NW-2026")
    _stage_in_flight(deal)
    identified = deal.stages.get(kind=StageKind.IDENTIFIED)
    if identified.status == StageStatus.DRAFT:
        services.stage_submit(actor=identified.created_by, stage=identified)
    use_language(page, live_server.url, lang)

    sign_in(page, "broker", DEMO_PASSWORD)
    page.goto(f"/deals/{deal.pk}/")
    expect(page.locator("progress.td-progress-bar").first).to_be_visible()
    _shoot(page, console, "deal-running-stage")

    page.goto(f"/deals/{deal.pk}/stages/new/")
    page.fill("#id_name", "Premium customers" if lang == "en" else "高端客户")
    page.select_option("#id_kind", "pseudonymised")
    with page.expect_navigation():
        page.click("button[name=preview]")
    expect(page.locator("table").first).to_be_visible()
    _shoot(page, console, "stage-planner-preview")
    sign_out(page)

    sign_in(page, "compliance", DEMO_PASSWORD)
    page.goto("/deals/approvals/")
    expect(page.locator("table")).to_be_visible()
    _shoot(page, console, "approval-queue")
    page.goto(f"/deals/stages/{identified.pk}/approve/")
    _shoot(page, console, "stage-approve")
    sign_out(page)


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_a_rendered_receipt_page(demo_users, compiled_catalogues, lang):
    from transfers.receipts import receipt_pdf

    deal = TransferDeal.objects.get(reference="MER-NW-2026")
    stage = deal.stages.get(kind=StageKind.AGGREGATE)
    with translation.override(lang):
        pdf = receipt_pdf(stage, user=stage.approved_by)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOT_DIR / f"receipt-{lang}.pdf"
    target.write_bytes(pdf)
    prefix = SCREENSHOT_DIR / f"receipt-{lang}"
    render_pages(target, prefix, last=2)
    assert prefix.with_name(f"receipt-{lang}-1.png").exists()


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_a_rejected_stage_is_changed_and_submitted_again(
    demo_users, page, live_server, console, lang
):
    """Compliance rejects a stage with a reason; the broker reads it, changes the stage in the
    planner and submits it again: no shell, no admin."""
    from customers.choices import Tier

    deal = TransferDeal.objects.get(reference="MER-NW-2026")
    broker = deal.created_by
    stage = services.stage_create(
        actor=broker, deal=deal, name="Too wide", kind=StageKind.PSEUDONYMISED,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    services.stage_submit(actor=broker, stage=stage)
    use_language(page, live_server.url, lang)

    sign_in(page, "compliance", DEMO_PASSWORD)
    page.goto(f"/deals/stages/{stage.pk}/reject/")
    page.fill("#id_reason", "Only the retail segment, please.")
    with page.expect_navigation():
        page.locator("form.td-form-card button[type=submit]").click()
    stage.refresh_from_db()
    assert stage.status == StageStatus.REJECTED
    sign_out(page)

    sign_in(page, "broker", DEMO_PASSWORD)
    page.goto(f"/deals/stages/{stage.pk}/")
    expect(page.get_by_text("Only the retail segment, please.").first).to_be_visible()
    _shoot(page, console, "stage-rejected")
    with page.expect_navigation():
        page.click(f"a[href='/deals/stages/{stage.pk}/edit/']")
    expect(page.locator("#id_name")).to_have_value("Too wide")
    page.fill("#id_name", "Retail overview")
    segment = page.locator("#id_segment option").first.get_attribute("value")
    page.select_option("#id_segment", [segment])
    with page.expect_navigation():
        page.click("button[name=preview]")
    _shoot(page, console, "stage-edit-preview")
    with page.expect_navigation():
        page.click("button[name=save]")
    stage.refresh_from_db()
    assert (stage.name, stage.status) == ("Retail overview", StageStatus.DRAFT)
    assert stage.selection == {"segment": [segment]}
    with page.expect_navigation():
        page.click(f"form[action='/deals/stages/{stage.pk}/submit/'] button")
    stage.refresh_from_db()
    assert stage.status == StageStatus.SUBMITTED
    _shoot(page, console, "stage-submitted-again")
