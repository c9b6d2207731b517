"""The buyer's day, in the browser only: sign in, open a delivered stage and review its records
(a filter, one record), ask the brokers about that record and read the broker's answer,
download the receipt bundle, verify it on the portal's verify page, acknowledge; later, after a
customer objected through their own link, complete the deletion task, see the record gone and
export the stage: the CSV carries the watermark with the export's id, and not the customer.

Runs in English and in Chinese; each step saves ``var/screenshots/journeys/buyer-<nn>-<step>-
<lang>.png``. Labels are looked up through the catalogue, so the Chinese run clicks the
Chinese words a person sees. The broker who answers and the customer who objects use their
own browsers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from customers.models import Customer
from tests.e2e.browser import sign_in, use_language
from tests.e2e.conftest import VIEWPORT, ConsoleWatch
from tests.e2e.journeys.journey import LANGUAGES, Journey
from tests.factories import PASSWORD, Cast
from tests.support.world import tasks_in_process
from transferdesk.trail import AuditAction, AuditEvent
from transfers import notices
from transfers.choices import StageStatus
from transfers.models import HandoverItem, HandoverStage
from transfers.portal_models import Answer, FollowUpTask, PortalExport, Question

pytestmark = pytest.mark.browser


@pytest.fixture
def delivered_deal(cast: Cast) -> Iterator[object]:
    """The portal tests' deal (tests/portal/conftest.py): pseudonymised, identified and
    aggregate stages delivered, the buyer past the NDA; built through the services, with the
    engine run in-process."""
    from tests.portal.conftest import _deliver_deals

    with tasks_in_process():
        yield _deliver_deals(cast, capture=lambda execute=True: nullcontext())


@pytest.mark.parametrize("lang", LANGUAGES)
def test_buyer_reviews_records_asks_a_question_acknowledges_a_receipt_completes_a_deletion_and_exports(  # noqa: E501
    page: Page,
    browser: Browser,
    live_server: LiveServer,
    console: ConsoleWatch,
    cast: Cast,
    delivered_deal,
    lang: str,
    tmp_path: Path,
) -> None:
    j = Journey(page, console, lang, "buyer")
    t = j.t

    def own_browser(user: str | None) -> Page:
        """Another person's page, in their own browser, in the run's language."""
        context = browser.new_context(
            base_url=live_server.url,
            viewport=VIEWPORT,
            locale="zh-CN" if lang == "zh-hans" else "en-GB",
        )
        other = context.new_page()
        other.on("console", lambda m: m.type == "error" and console.errors.append(m.text))
        if user:  # staff choose the language in the switcher; a customer's browser says it
            use_language(other, live_server.url, lang)
            sign_in(other, user, PASSWORD)
        return other

    stage = delivered_deal.identified
    customer, kept = delivered_deal.customers[2], delivered_deal.customers[3]
    use_language(page, live_server.url, lang)
    page.goto("/accounts/login/")
    sign_in(page, cast.buyer.username, PASSWORD)
    page.goto("/portal/")
    expect(page.get_by_text(stage.name).first).to_be_visible()
    j.shot("home")

    # --- review the records: all of them, then one found by its reference ----------------
    page.get_by_role("row").filter(has_text=stage.name).get_by_role(
        "link", name=t("Open stage")
    ).click()
    expect(page.get_by_text(customer.reference)).to_be_visible()
    j.shot("records")
    page.get_by_label(t("Reference or pseudonym starts with")).fill(kept.reference)
    with page.expect_navigation():
        page.get_by_role("button", name=t("Apply")).click()
    rows = page.get_by_role("row").filter(has=page.get_by_role("link", name=t("View")))
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(kept.reference)
    j.shot("records-filtered")
    rows.get_by_role("link", name=t("View")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(kept.reference)
    expect(page.get_by_text(t("Fields handed over in this stage"))).to_be_visible()
    j.shot("record")
    item = HandoverItem.objects.get(stage=stage, customer_id=kept.pk)
    assert AuditEvent.objects.filter(
        action=AuditAction.PORTAL_VIEW, actor=cast.buyer, object_id=str(item.pk)
    ).exists()  # the record's view is in the deal's trail

    # --- ask about the record; the broker answers in his own browser ----------------------
    page.get_by_role("link", name=t("Ask about this record")).click()
    expect(page.get_by_text(t("About the record you were viewing."))).to_be_visible()
    page.get_by_label(j.label("Subject")).fill("合同到期日 Contract end date")
    page.get_by_label(j.label("Question")).fill("请问此客户的服务合同何时到期")
    with page.expect_navigation():
        page.get_by_role("button", name=t("Send question")).click()
    expect(page.get_by_text(t("Question sent to the deal's brokers."))).to_be_visible()
    waiting = page.get_by_text(
        t("Waiting for the brokers' answer. You will be notified by e-mail.")
    )
    expect(waiting).to_be_visible()
    j.shot("question-asked")
    question = Question.objects.get(deal=delivered_deal.deal, asked_by=cast.buyer)
    assert (question.item_id, question.stage_id, question.status) == (item.pk, stage.pk, "open")

    broker = own_browser(cast.broker.username)
    try:
        broker.get_by_role("link", name=t("Buyer questions"), exact=True).click()
        broker.get_by_role("link", name="合同到期日 Contract end date").first.click()
        broker.get_by_label(j.label("Answer")).fill("2027年6月30日到期。")
        with broker.expect_navigation():
            broker.get_by_role("button", name=t("Send answer")).click()
        expect(broker.get_by_text(t("Answer sent. The buyer is notified."))).to_be_visible()
        j.shot("broker-answers", broker)
    finally:
        broker.context.close()
    page.reload()
    expect(page.get_by_text("2027年6月30日到期。")).to_be_visible()
    expect(waiting).to_have_count(0)
    j.shot("answer-read")
    assert Answer.objects.get(question=question).author == cast.broker
    assert Question.objects.get(pk=question.pk).status == "answered"

    # --- the receipt: download the bundle (ZIP) and upload it on the verify page -----------
    page.goto("/portal/")
    page.get_by_role("row").filter(has_text=stage.name).get_by_role(
        "link", name=t("Open stage")
    ).click()
    page.get_by_role("link", name=t("Receipt & acknowledgement")).click()
    expect(page.get_by_text(stage.manifest.merkle_root)).to_be_visible()
    j.shot("receipt")
    with page.expect_download() as download:
        page.get_by_role("link", name=t("Download receipt bundle (ZIP)")).first.click()
    bundle = tmp_path / download.value.suggested_filename
    download.value.save_as(bundle)
    assert bundle.name == f"receipt-{delivered_deal.deal.reference}-{stage.order}.zip"
    page.get_by_role("link", name=t("Verify receipt")).first.click()
    j.shot("verify")
    page.get_by_label(t("Receipt bundle")).set_input_files(str(bundle))
    page.get_by_role("button", name=t("Verify"), exact=True).click()
    expect(page.get_by_role("heading", name=t("Receipt verified"))).to_be_visible()
    j.shot("verified")
    page.get_by_role("button", name=t("Acknowledge receipt")).click()
    expect(page.get_by_role("heading", name=t("Receipt acknowledged"))).to_be_visible()
    j.shot("acknowledged")
    assert HandoverStage.objects.get(pk=stage.pk).status == StageStatus.ACKNOWLEDGED

    # --- the customer opens their personal link in their own browser and objects (with no
    # language on record, the page speaks the browser's: zh-CN or en-GB) --------------------
    Customer.objects.filter(pk=customer.pk).update(preferred_language="")
    link = notices.link_issue(actor=None, deal=delivered_deal.deal, customer=customer)
    customer_page = own_browser(None)
    try:
        customer_page.goto(f"/n/{notices.link_token(link)}/")
        customer_page.get_by_role("button", name=t("I object to the transfer")).click()
        expect(
            customer_page.get_by_role("heading", name=t("Your objection is recorded"))
        ).to_be_visible()
        j.shot("customer-objected", customer_page)
    finally:
        customer_page.context.close()
    objected = HandoverItem.objects.get(stage=stage, customer_id=customer.pk)
    task = FollowUpTask.objects.get(item=objected)
    assert (task.kind, task.status) == ("delete", "open")

    # --- the buyer completes the deletion task; the record has left the data room ----------
    page.goto(f"/portal/stages/{stage.pk}/")
    page.get_by_role("link", name=t("Follow-up tasks")).first.click()
    card = page.locator("section.td-task").filter(has_text=customer.reference)
    expect(card.get_by_text(t("withdrawn from the data room"))).to_be_visible()
    j.shot("task")
    card.get_by_label(t("What was done")).fill("Deleted from our CRM and backups.")
    card.get_by_role("button", name=t("Attest completion")).click()
    expect(page.get_by_text(t("Completion attested. Thank you."))).to_be_visible()
    j.shot("attested")
    task.refresh_from_db()
    assert task.status == "done" and task.attested_by_id == cast.buyer.pk

    page.goto("/portal/")
    page.get_by_role("row").filter(has_text=stage.name).get_by_role(
        "link", name=t("Open stage")
    ).click()
    expect(page.get_by_text(kept.reference)).to_be_visible()
    expect(page.get_by_text(customer.reference)).to_have_count(0)
    j.shot("record-gone")

    # --- export the stage: watermarked with the export's id, without the customer ---------
    with page.expect_download() as download:
        page.get_by_role("button", name=t("Export CSV")).click()
    export = PortalExport.objects.get(stage=stage, user=cast.buyer, format="csv")
    assert download.value.suggested_filename.endswith(f"-export-{export.pk}.csv")
    text = download.value.path().read_text(encoding="utf-8-sig")
    watermark, _header, *records = list(csv.reader(io.StringIO(text)))
    assert str(export.pk) in watermark[0] and cast.buyer.username in watermark[0]
    references = {row[0] for row in records}
    assert kept.reference in references and customer.reference not in references
    assert export.item_count == len(records) == stage.total - 1
    j.shot("exported")

    page.get_by_role("link", name=t("Receipt & acknowledgement")).click()
    expect(page.get_by_text(t("Withdrawn since delivery"))).to_be_visible()
    expect(page.get_by_text(f"#{objected.pk}", exact=True)).to_be_visible()
    j.shot("withdrawal-listed")
