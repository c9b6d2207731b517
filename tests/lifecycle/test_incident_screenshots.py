# ruff: noqa: F811 - the e2e fixtures imported below are used as parameters
"""Screenshots of an incident (English and Chinese): its page with the deadline clock and the
state of its notices, the notices page, the notice e-mail, and a rendered page of the
regulator report. Saved to ``var/screenshots/`` (git-ignored) for people to look at; each
page is also checked for its language, its clock or its figures, and a clean console."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone, translation
from playwright.sync_api import Page, expect

from tests.e2e.browser import SCREENSHOT_DIR, screenshot, sign_in, use_language
from tests.e2e.conftest import (  # noqa: F401 - fixtures reused from the e2e suite
    ConsoleWatch,
    browser,
    cast,
    compiled_catalogues,
    console,
    page,
)
from tests.factories import PASSWORD
from tests.support.pdf_pages import render_pages

pytestmark = [pytest.mark.browser]


def _seed(cast, settings):
    """An incident detected 30 hours ago; five customers read in its window (two in
    Chinese, one refused by the mail server, one without an address); notices prepared,
    approved by a second officer and sent."""
    from accounts.choices import Role
    from audits.incidents import incident_create, incident_notices_prepare
    from tests.factories import CustomerFactory, UserFactory
    from tests.transfers.conftest import make_deal
    from transferdesk.trail import AuditAction, record_event
    from transfers import notices

    settings.EMAIL_BACKEND = "tests.notices.backends.RefusingBackend"
    deal = make_deal(cast, reference="D-2026-07")
    start = timezone.now() - dt.timedelta(hours=40)
    people = [
        CustomerFactory(
            organization=cast.seller,
            reference=f"C-{i + 1:03d}",
            full_name=name,
            email=email,
            preferred_language=language,
        )
        for i, (name, email, language) in enumerate(
            [
                ("王芳", "wang.fang@example.cn", "zh-hans"),
                ("李伟", "li.wei@example.cn", "zh-hans"),
                ("Ann Lee", "ann.lee@example.com", "en"),
                ("Tom Hu", "tom7@example.com", "en"),  # refused by the mail server
                ("No Mail", "", "en"),  # to be told by letter or phone
            ]
        )
    ]
    fields = [["email", "full_name", "phone"], ["national_id"], ["email", "postal_address"]]
    for i, customer in enumerate(people):
        record_event(
            action=AuditAction.VIEW_SENSITIVE, actor=cast.broker, obj=customer, deal=deal,
            details={"fields": fields[i % 3]},
        )  # fmt: skip
    incident = incident_create(
        actor=cast.compliance, detected_at=timezone.now() - dt.timedelta(hours=30),
        description="A broker's laptop was stolen with an open session.", severity="high",
        window_start=start, window_end=timezone.now(), suspect_users=[cast.broker],
        measures="Session revoked, password reset, laptop wiped remotely.",
        contact="Data-protection officer, dpo@example.test, +86 21 5555 0100",
        description_zh="一名经纪人的笔记本电脑在会话未退出时被盗。",
        measures_zh="已撤销会话并重置密码。笔记本电脑已被远程擦除。",
        contact_zh="数据保护官 dpo@example.test +86 21 5555 0100",
    )  # fmt: skip
    campaign = incident_notices_prepare(actor=cast.compliance, incident=incident)
    second = UserFactory(
        username="compliance-2", organization=cast.compliance.organization,
        roles=[Role.COMPLIANCE],
    )  # fmt: skip
    notices.campaign_approve(actor=second, campaign=campaign)
    notices.campaign_send(actor=cast.compliance, campaign=campaign)
    return incident


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_screenshots_of_an_incident_its_clock_and_its_notices(
    cast, page: Page, live_server, console: ConsoleWatch, lang, settings, eager_tasks
):
    incident = _seed(cast, settings)
    use_language(page, live_server.url, lang)
    sign_in(page, cast.compliance.username, PASSWORD)
    base = f"/compliance/lifecycle/incidents/{incident.pk}"
    page.goto(f"{base}/")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("#clock-title")).to_be_visible()
    expect(page.locator("#notices a[href$='/notices/']")).to_be_visible()
    screenshot(page, "incident-clock")
    page.goto(f"{base}/notices/")
    expect(page.locator("table").first).to_be_visible()
    # Both versions of the texts, whatever the page's language.
    expect(page.get_by_text("A broker's laptop was stolen with an open session.")).to_be_visible()
    expect(page.get_by_text("一名经纪人的笔记本电脑在会话未退出时被盗。")).to_be_visible()
    screenshot(page, "incident-notices")
    assert console.take() == []
    page.goto(f"{base}/notices/preview/" + ("?lang=zh-hans" if lang != "en" else ""))
    expect(page.locator("html")).to_have_attribute("lang", lang)
    # The e-mail names system fonts, as mail clients use them; this machine may have no CJK
    # font, so the screenshot borrows the application's own.
    page.add_style_tag(
        content="@font-face{font-family:'TD CJK';"
        "src:url('/static/fonts/DroidSansFallbackFull.ttf');font-weight:100 900}"
        "body,body *{font-family:sans-serif,'TD CJK'!important}"
    )
    screenshot(page, "incident-notice-email")
    assert console.take() == []


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_a_rendered_page_of_the_regulator_report(cast, settings, lang, compiled_catalogues):
    from audits.incidents import incident_report_pdf

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from transferdesk.celery import app

    before, app.conf.task_always_eager = app.conf.task_always_eager, True
    try:
        incident = _seed(cast, settings)
    finally:
        app.conf.task_always_eager = before
    with translation.override(lang):
        pdf = incident_report_pdf(actor=cast.compliance, incident=incident)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    source = SCREENSHOT_DIR / f"incident-report-{lang}.pdf"
    source.write_bytes(pdf)
    render_pages(source, SCREENSHOT_DIR / f"incident-report-{lang}")
    assert list(SCREENSHOT_DIR.glob(f"incident-report-{lang}-*.png"))
