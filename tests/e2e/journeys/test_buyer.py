"""The buyer's day, in the browser only: sign in, open a delivered stage, download the receipt
bundle, verify it on the portal's verify page, acknowledge; later, after a customer objected
through their own link, complete the deletion task and see the record gone.

Runs in English and in Chinese; each step saves ``var/screenshots/journeys/buyer-<n>-<step>-
<lang>.png``. Labels are looked up through the catalogue, so the Chinese run clicks the
Chinese words a person sees.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import pytest
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser import SCREENSHOT_DIR, sign_in, use_language
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser

JOURNEYS = SCREENSHOT_DIR / "journeys"


def shot(page: Page, name: str, lang: str) -> None:
    page.wait_for_load_state("load")
    page.evaluate("document.fonts.ready.then(() => true)")
    JOURNEYS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(JOURNEYS / f"buyer-{name}-{lang}.png"), full_page=True)


@pytest.fixture
def delivered_deal(cast):
    """The portal tests' deal (tests/portal/conftest.py): pseudonymised, identified and
    aggregate stages delivered, the buyer past the NDA; built through the services, with the
    engine run in-process."""
    from tests.portal.conftest import _deliver_deals
    from transferdesk.celery import app

    changes = app.conf.changes
    had, old = "task_always_eager" in changes, changes.get("task_always_eager")
    app.conf.task_always_eager = True
    try:
        yield _deliver_deals(cast, capture=lambda execute=True: nullcontext())
    finally:
        if had:
            changes["task_always_eager"] = old
        else:
            changes.pop("task_always_eager", None)


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_buyer_verifies_and_acknowledges_a_receipt_then_completes_a_deletion_task(
    page: Page, browser: Browser, live_server, cast, delivered_deal, lang, tmp_path: Path
):
    from transfers import notices
    from transfers.choices import StageStatus
    from transfers.models import HandoverItem, HandoverStage
    from transfers.portal_models import FollowUpTask

    def t(text: str, language: str = lang) -> str:
        with translation.override(language):
            return gettext(text)

    stage = delivered_deal.identified
    customer = delivered_deal.customers[2]
    use_language(page, live_server.url, lang)
    page.goto("/accounts/login/")
    sign_in(page, cast.buyer.username, PASSWORD)
    page.goto("/portal/")
    expect(page.get_by_text(stage.name).first).to_be_visible()
    shot(page, "01-home", lang)

    # Open the delivered stage: its records, the objecting customer's among them.
    page.get_by_role("row").filter(has_text=stage.name).get_by_role(
        "link", name=t("Open stage")
    ).click()
    expect(page.get_by_text(customer.reference)).to_be_visible()
    shot(page, "02-records", lang)

    # Receipt: download the bundle (ZIP) and upload it on the verify page.
    page.get_by_role("link", name=t("Receipt & acknowledgement")).click()
    expect(page.get_by_text(stage.manifest.merkle_root)).to_be_visible()
    shot(page, "03-receipt", lang)
    with page.expect_download() as download:
        page.get_by_role("link", name=t("Download receipt bundle (ZIP)")).first.click()
    bundle = tmp_path / download.value.suggested_filename
    download.value.save_as(bundle)
    assert bundle.name == f"receipt-{delivered_deal.deal.reference}-{stage.order}.zip"
    page.get_by_role("link", name=t("Verify receipt")).first.click()
    shot(page, "04-verify", lang)
    page.get_by_label(t("Receipt bundle")).set_input_files(str(bundle))
    page.get_by_role("button", name=t("Verify"), exact=True).click()
    expect(page.get_by_role("heading", name=t("Receipt verified"))).to_be_visible()
    shot(page, "05-verified", lang)
    page.get_by_role("button", name=t("Acknowledge receipt")).click()
    expect(page.get_by_role("heading", name=t("Receipt acknowledged"))).to_be_visible()
    shot(page, "06-acknowledged", lang)
    assert HandoverStage.objects.get(pk=stage.pk).status == StageStatus.ACKNOWLEDGED

    # The customer opens their personal link in their own browser and objects (the page
    # speaks the customer's preferred language: here the run's).
    from customers.models import Customer

    Customer.objects.filter(pk=customer.pk).update(preferred_language=lang)
    spoken = lang
    link = notices.link_issue(actor=None, deal=delivered_deal.deal, customer=customer)
    customer_context = browser.new_context(
        base_url=live_server.url, locale="zh-CN" if lang == "zh-hans" else "en-GB"
    )
    try:
        customer_page = customer_context.new_page()
        use_language(customer_page, live_server.url, lang)
        customer_page.goto(f"/n/{notices.link_token(link)}/")
        customer_page.get_by_role("button", name=t("I object to the transfer", spoken)).click()
        expect(
            customer_page.get_by_role("heading", name=t("Your objection is recorded", spoken))
        ).to_be_visible()
        shot(customer_page, "07-customer-objected", lang)
    finally:
        customer_context.close()
    item = HandoverItem.objects.get(stage=stage, customer_id=customer.pk)
    task = FollowUpTask.objects.get(item=item)
    assert (task.kind, task.status) == ("delete", "open")

    # The buyer completes the deletion task; the record has left the data room.
    page.goto(f"/portal/stages/{stage.pk}/")
    page.get_by_role("link", name=t("Follow-up tasks")).first.click()
    card = page.locator("section.td-task").filter(has_text=customer.reference)
    expect(card.get_by_text(t("withdrawn from the data room"))).to_be_visible()
    shot(page, "08-task", lang)
    card.get_by_label(t("What was done")).fill("Deleted from our CRM and backups.")
    card.get_by_role("button", name=t("Attest completion")).click()
    expect(page.get_by_text(t("Completion attested. Thank you."))).to_be_visible()
    shot(page, "09-attested", lang)
    task.refresh_from_db()
    assert task.status == "done" and task.attested_by_id == cast.buyer.pk

    page.goto("/portal/")
    page.get_by_role("row").filter(has_text=stage.name).get_by_role(
        "link", name=t("Open stage")
    ).click()
    expect(page.get_by_text(delivered_deal.customers[3].reference)).to_be_visible()
    expect(page.get_by_text(customer.reference)).to_have_count(0)
    shot(page, "10-record-gone", lang)
    page.get_by_role("link", name=t("Receipt & acknowledgement")).click()
    expect(page.get_by_text(t("Withdrawn since delivery"))).to_be_visible()
    expect(page.get_by_text(f"#{item.pk}", exact=True)).to_be_visible()
    shot(page, "11-withdrawal-listed", lang)
