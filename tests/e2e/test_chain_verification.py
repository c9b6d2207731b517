"""Compliance verifies the audit chain in the browser: from the compliance navigation to the
verification page, a run started with one button, its result, and the history of runs (the
daily ones included). Screenshots in English and Chinese under ``var/screenshots/``."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from audits.models import ChainVerificationRun
from audits.tasks import verify_audit_chain_task
from tests.e2e.browser import screenshot, sign_in, use_language
from tests.e2e.conftest import ConsoleWatch
from tests.factories import PASSWORD
from transferdesk.trail import AuditAction, AuditEvent, record_event

pytestmark = pytest.mark.browser


@pytest.fixture
def trail(cast, eager_tasks):
    for n in range(40):
        record_event(action=AuditAction.EXPORT, actor=cast.broker, details={"rows": n})
    verify_audit_chain_task.apply()  # yesterday's daily check, stored with its success
    for n in range(5):
        record_event(action=AuditAction.VIEW_SENSITIVE, actor=cast.broker, details={"n": n})
    return cast


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_the_officer_verifies_the_chain_from_the_navigation_and_sees_the_history(
    trail, page: Page, live_server, console: ConsoleWatch, lang: str
) -> None:
    use_language(page, live_server.url, lang)
    sign_in(page, "compliance", PASSWORD)

    page.locator(f".td-navbar a[href='{reverse('audits:dashboard')}']").first.click()
    page.locator(f".td-subnav a[href='{reverse('audits:chain')}']").click()
    expect(page.locator(".td-subnav a[aria-current=page]")).to_have_attribute(
        "href", reverse("audits:chain")
    )
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)  # the daily run
    screenshot(page, "chain-verification-before")

    page.locator(f"form[action='{reverse('audits:chain_verify')}'] button").click()

    expect(page.locator(".alert-success")).to_be_visible()
    events = AuditEvent.objects.count()
    expect(page.locator(".alert-success")).to_contain_text(str(events))
    expect(rows).to_have_count(2)
    screenshot(page, "chain-verification")
    run = ChainVerificationRun.objects.get(trigger="page")
    assert (run.status, run.events, run.started_by) == ("succeeded", events, trail.compliance)
    assert ChainVerificationRun.objects.filter(trigger="daily", status="succeeded").count() == 1
    assert console.take() == []
