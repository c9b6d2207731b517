# ruff: noqa: F811 - the e2e fixtures imported below are used as parameters
"""Screenshots of the lifecycle pages (English and Chinese) and of a destruction certificate.

Saved to ``var/screenshots/`` (git-ignored) for people to look at; each page is also checked
for its heading, the language shown and a clean console (a CSP violation is a console error).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
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


def _seed(cast, tmp_path, settings) -> None:
    from audits.backups import backup_run, restore_drill
    from audits.incidents import incident_create
    from audits.retention import (
        customer_erase,
        legal_hold_place,
        policy_confirm,
        policy_save,
    )
    from customers.services import customer_create
    from transferdesk.trail import AuditAction, record_event

    settings.TRANSFERDESK_BACKUP_DIR = tmp_path / "backups"
    made = [
        customer_create(
            actor=None,
            organization=cast.seller,
            values={
                "reference": f"S-{i:03d}",
                "full_name": f"Person {i}",
                "city": "Suzhou",
                "retention_until": dt.date(2019, 1, 1) if i % 3 else None,
            },
        )
        for i in range(12)
    ]
    legal_hold_place(actor=cast.compliance, customer=made[1], reason="Case 2026-17: court order")
    confirmed = policy_save(
        actor=cast.compliance, organization=cast.seller, category="customer_record",
        event="contract_end", period_days=365, action="destroy",
    )  # fmt: skip
    policy_confirm(actor=cast.compliance, policy=confirmed)
    policy_save(
        actor=cast.compliance, organization=cast.seller, category="interactions",
        event="record_date", period_days=730, action="anonymise",
    )  # fmt: skip
    customer_erase(actor=cast.compliance, customer=made[0], request_ref="REQ-2026-041")
    backup_run(actor=cast.compliance)
    restore_drill(actor=cast.compliance)
    start = timezone.now() - dt.timedelta(hours=5)
    for customer in made[3:7]:
        record_event(
            action=AuditAction.VIEW_SENSITIVE, actor=cast.broker, obj=customer,
            details={"fields": ["email", "full_name", "phone"]},
        )  # fmt: skip
    incident = incident_create(
        actor=cast.compliance, detected_at=timezone.now() - dt.timedelta(hours=30),
        description="A broker's laptop was stolen with an open session.", severity="high",
        window_start=start, window_end=timezone.now(), suspect_users=[cast.broker],
        measures="Session revoked, password reset.", contact="dpo@example.test",
    )  # fmt: skip
    return incident


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_screenshots_of_the_lifecycle_pages(
    cast, page: Page, live_server, console: ConsoleWatch, lang, tmp_path, settings
):
    incident = _seed(cast, tmp_path, settings)
    use_language(page, live_server.url, lang)
    sign_in(page, cast.compliance.username, PASSWORD)
    shots = {
        "lifecycle-retention": "/compliance/lifecycle/retention/",
        "lifecycle-backups": "/compliance/lifecycle/backups/",
        "lifecycle-incidents": "/compliance/lifecycle/incidents/",
        "lifecycle-incident": f"/compliance/lifecycle/incidents/{incident.pk}/",
    }
    for name, url in shots.items():
        page.goto(url)
        expect(page.locator("html")).to_have_attribute("lang", lang)
        expect(page.locator("h1")).to_be_visible()
        path = screenshot(page, name)
        assert path.stat().st_size > 10_000
    assert console.take() == []


def test_a_rendered_page_of_the_destruction_certificate(cast, tmp_path, settings):
    from audits.models import DestructionCertificate

    _seed(cast, tmp_path, settings)
    certificate = DestructionCertificate.objects.get()
    pdf = tmp_path / "certificate.pdf"
    pdf.write_bytes(bytes(certificate.pdf))
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    render_pages(pdf, SCREENSHOT_DIR / "lifecycle-certificate", last=2, dpi=80)
    assert list(SCREENSHOT_DIR.glob("lifecycle-certificate-*.png"))


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_screenshots_of_the_destruction_links_and_the_certificate_job(
    cast, page: Page, live_server, console: ConsoleWatch, lang, tmp_path, settings
):
    """The deal page's destroy action (compliance), a large run's certificate being built, the
    hold form with an error, and the buyer's pending attestation in the portal."""
    from audits.models import PurgeRun
    from audits.retention import deal_destroy
    from tests.transfers.conftest import make_deal
    from transferdesk.jobs import job_create, job_progress, job_start

    _seed(cast, tmp_path, settings)
    offered = make_deal(cast, reference="D-OFFER")
    lost = make_deal(cast, reference="D-LOST")
    deal_destroy(actor=cast.compliance, deal=lost, reason="losing_bidder")
    run = PurgeRun.objects.create(started_by=cast.compliance, customers=100_000, rows=300_000)
    job = job_create(kind="destruction_certificate", actor=cast.compliance, obj=run, total=100_000)
    job_start(job_id=job.pk)
    job_progress(job_id=job.pk, done=42_000)
    PurgeRun.objects.filter(pk=run.pk).update(certificate_job=job, status="succeeded")

    use_language(page, live_server.url, lang)
    sign_in(page, cast.compliance.username, PASSWORD)
    page.goto(f"/deals/{offered.pk}/")
    expect(
        page.locator(f"a[href='/compliance/lifecycle/deals/{offered.pk}/destroy/']")
    ).to_be_visible()
    screenshot(page, "lifecycle-deal-destroy-action")
    page.goto(f"/compliance/lifecycle/retention/runs/{run.pk}/certificate/")
    expect(page.locator("progress")).to_be_visible()
    screenshot(page, "lifecycle-certificate-job")
    page.goto("/compliance/lifecycle/retention/")
    page.locator("form[action$='/retention/holds/#holds'] button[type=submit]").click()
    expect(page.locator(".td-field.has-error").first).to_be_visible()
    screenshot(page, "lifecycle-hold-form-error")
    page.context.clear_cookies()
    use_language(page, live_server.url, lang)
    sign_in(page, cast.buyer.username, PASSWORD)
    page.goto("/portal/")
    expect(page.locator("a[href*='/attestation/']")).to_be_visible()
    screenshot(page, "lifecycle-portal-attestation")
    assert console.take() == []
