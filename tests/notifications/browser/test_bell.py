"""The bell in the browser (issue 17): the broker submits a stage, the compliance officer's
bell shows 1, its notification opens the approval page; after the approval the broker's bell
shows it. Screenshots of the bell, the list and the preferences in English and Chinese."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from customers.choices import Tier
from tests.e2e.browser import screenshot, sign_in, sign_out, use_language
from tests.factories import PASSWORD
from tests.transfers.conftest import make_customers, make_deal
from transfers import services
from transfers.choices import StageKind, StageStatus

pytestmark = pytest.mark.browser

WAITS = "Stage “Overview” of deal D-1 waits for your approval."


def bell(page: Page):
    return page.locator(".td-bell")


def test_a_submitted_stage_rings_the_officers_bell_and_its_approval_the_brokers(
    page: Page, cast, live_server, eager_tasks, compiled_catalogues
) -> None:
    deal = make_deal(cast)
    make_customers(cast.seller, 3)
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name="Overview", kind=StageKind.PSEUDONYMISED,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    page.goto("/accounts/login/")
    sign_in(page, cast.broker.username, PASSWORD)
    page.goto(f"/deals/stages/{stage.pk}/")
    expect(bell(page)).not_to_contain_text(re.compile(r"\d"))
    with page.expect_navigation():
        page.get_by_role("button", name="Submit for approval").click()
    sign_out(page)

    sign_in(page, cast.compliance.username, PASSWORD)
    expect(bell(page).locator(".td-bell-count")).to_have_text("1")
    expect(bell(page)).to_contain_text("1 unread notification")
    # The bell fits in the top bar of the role with the most pages: nothing scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "notifications-bell")
    bell(page).click()
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    screenshot(page, "notifications-list")
    with page.expect_navigation():
        page.get_by_role("link", name=WAITS).click()
    assert page.url.endswith(f"/deals/stages/{stage.pk}/approve/")
    page.get_by_label("Approval note").fill("Checked the preview.")
    with page.expect_navigation():
        page.get_by_role("button", name="Approve").click()
    stage.refresh_from_db()
    assert stage.status == StageStatus.DELIVERED  # the engine ran in-process
    sign_out(page)

    sign_in(page, cast.broker.username, PASSWORD)
    # Approved and delivered: both wait in the broker's centre.
    expect(bell(page).locator(".td-bell-count")).to_have_text("2")
    bell(page).click()
    approved = "Stage “Overview” of deal D-1 was approved."
    expect(page.get_by_role("link", name=approved)).to_be_visible()
    page.get_by_role("button", name="Mark all read").click()
    expect(bell(page).locator(".td-bell-count")).to_have_count(0)


def test_screenshots_of_the_centre_in_chinese(
    page: Page, cast, live_server, compiled_catalogues
) -> None:
    from django.db import transaction

    from notifications.choices import Kind
    from notifications.services import notify

    with transaction.atomic():
        for kind in (Kind.STAGE_SUBMITTED, Kind.REQUEST_RECEIVED, Kind.JOB_FINISHED):
            notify(recipients=[cast.compliance], kind=kind, url="/deals/",
                   params={"stage": "Overview", "deal": "D-1", "request": "3f2a9c1e",
                           "due": "2026-12-18", "job": "report_deal_audit"})  # fmt: skip
    use_language(page, live_server.url, "zh-hans")
    page.goto("/accounts/login/")
    sign_in(page, cast.compliance.username, PASSWORD)
    expect(bell(page).locator(".td-bell-count")).to_have_text("3")
    expect(bell(page)).to_contain_text("3 条未读通知")
    screenshot(page, "notifications-bell")
    bell(page).click()
    expect(page.get_by_role("heading", name="通知")).to_be_visible()
    expect(page.get_by_text("交易 D-1 的阶段“Overview”等待您审批。")).to_be_visible()
    screenshot(page, "notifications-list")
    page.goto("/notifications/preferences/")
    expect(page.get_by_role("heading", name="邮件偏好")).to_be_visible()
    screenshot(page, "notifications-preferences")
    page.get_by_label("待审批的阶段: 每日摘要").check()
    page.get_by_role("button", name="保存偏好").click()
    expect(page.get_by_text("您的邮件偏好已保存。")).to_be_visible()
    use_language(page, live_server.url, "en")
    page.reload()
    expect(page.get_by_label("Stage waiting for approval: Daily digest")).to_be_checked()
    screenshot(page, "notifications-preferences")
