"""Screenshots of the buyer portal in English and Chinese, for people to look at.

Saved to ``var/screenshots/portal-<page>-<lang>.png`` (git-ignored). Built on the demo data of
``seed_demo``: the Northwind deal's pseudonymised stage is run, its identified stage approved
and run, a question asked and answered, and a correction made at the seller so a follow-up
task exists. Every page is checked for console errors (a CSP violation is one).
"""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.e2e.browser import SCREENSHOT_DIR, sign_in, sign_out, use_language
from tests.e2e.conftest import ConsoleWatch
from transferdesk.management.commands.seed_demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser


def _prepare() -> dict:
    """Deliver what the demo only plans, and give the buyer a thread and a task."""
    from accounts.models import User
    from customers.services import customer_update
    from transfers import engine, portal_services, services
    from transfers.choices import StageStatus
    from transfers.models import HandoverStage, TransferDeal

    deal = TransferDeal.objects.get(reference="MER-NW-2026")
    broker = User.objects.get(username="broker")
    compliance = User.objects.get(username="compliance")
    buyer = User.objects.get(username="buyer")
    deal.notices_sent_at = timezone.now() - timedelta(days=40)
    deal.objection_window_closes_at = timezone.now() - timedelta(days=5)
    deal.save(update_fields=["notices_sent_at", "objection_window_closes_at"])
    # The demo's campaign declares a changed purpose; consents are another issue's pages. Its
    # objection deadline passes with the deal's window (each customer's window counts).
    if hasattr(deal, "notice_campaigns"):
        deal.notice_campaigns.update(
            purpose_changed=False, objection_deadline=deal.objection_window_closes_at
        )
    for stage in HandoverStage.objects.filter(deal=deal).order_by("order"):
        if stage.status == StageStatus.DRAFT:
            stage = services.stage_submit(actor=broker, stage=stage)
            stage = services.stage_approve(
                actor=compliance, stage=stage, note="Checked.", start=False
            )
        if stage.status == StageStatus.APPROVED:
            engine.run_stage(stage.pk)
    stages = {s.kind: s for s in HandoverStage.objects.filter(deal=deal)}
    pseudo, identified = stages["pseudonymised"], stages["identified"]
    item = pseudo.items.order_by("pk").first()
    # A buyer question, answered by the broker.
    nda = services.current_nda(deal)
    services.nda_accept(actor=buyer, nda=nda, ip="203.0.113.9", user_agent="screenshots")
    question = portal_services.question_ask(
        actor=buyer,
        stage=pseudo,
        item=item,
        subject="How is the segment 'business' defined?",
        body="Several records are marked 'business'. Is that by contract type or by turnover?",
    )
    portal_services.question_answer(
        actor=broker,
        question=question,
        body="By contract type: business customers hold a commercial service contract.",
    )
    # A correction at the seller becomes a follow-up task; one more task is overdue.
    from customers.models import Customer

    customer = Customer.objects.get(pk=identified.items.order_by("pk").first().customer_id)
    customer_update(actor=broker, customer=customer, values={"city": "Suzhou"})
    late = portal_services.followup_create(
        item=identified.items.order_by("pk")[1], kind="delete", reason="erasure", due_days=0
    )
    type(late).objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(days=3))
    # The buyer must accept a new NDA version: the NDA page shows the change.
    services.nda_publish(
        actor=broker, deal=deal, text=nda.text + "\nVersion 2: every export is watermarked."
    )
    return {"deal": deal, "stages": stages, "item": item, "question": question}


def _shoot(page: Page, console: ConsoleWatch, name: str, lang: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", lang)
    page.wait_for_load_state("load")
    page.evaluate("document.fonts.ready.then(() => true)")
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"portal-{name}-{lang}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000, f"{path} looks blank"
    errors = console.take()
    assert errors == [], f"console errors on {name} ({lang}): {errors}"


def _xlsx_as_html(content: bytes) -> str:
    """An opened spreadsheet, drawn as a grid (what a person sees in a spreadsheet program)."""
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    sheet = load_workbook(io.BytesIO(content)).active
    width = min(sheet.max_column, 9)
    head = "".join(f"<th>{get_column_letter(i)}</th>" for i in range(1, width + 1))
    rows = []
    for r, row in enumerate(sheet.iter_rows(max_col=width, max_row=26), start=1):
        cells = "".join(
            f"<td class='{'b' if c.font and c.font.b else ''}'>"
            f"{html.escape('' if c.value is None else str(c.value))}</td>"
            for c in row
        )
        rows.append(f"<tr><th>{r}</th>{cells}</tr>")
    return (
        "<html><head><meta charset='utf-8'><style>"
        "body{font:13px system-ui,'Noto Sans CJK SC',sans-serif;margin:0;background:#fff}"
        ".bar{background:#217346;color:#fff;padding:8px 12px;font-weight:600}"
        "table{border-collapse:collapse}td,th{border:1px solid #d4d4d4;padding:3px 6px;"
        "white-space:nowrap;max-width:380px;overflow:hidden;text-overflow:ellipsis}"
        "th{background:#f3f3f3;color:#555;font-weight:normal}td.b{font-weight:700}"
        "</style></head><body><div class='bar'>" + html.escape(sheet.title) + " — Excel</div>"
        f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table></body></html>"
    )


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_screenshots_of_the_buyer_portal(
    demo_users: None, page: Page, live_server, console: ConsoleWatch, lang: str
) -> None:
    world = _prepare()
    stages, deal = world["stages"], world["deal"]
    pseudo = stages["pseudonymised"]
    use_language(page, live_server.url, lang)

    sign_in(page, "buyer", DEMO_PASSWORD)
    page.goto(f"/portal/stages/{pseudo.pk}/")  # the gate sends the buyer to the new NDA
    expect(page).to_have_url(re.compile(rf"/portal/deals/{deal.pk}/nda/"))
    _shoot(page, console, "nda", lang)
    page.check("#id_agree")
    with page.expect_navigation():
        page.click(".td-nda-side form button[type=submit]")
    _shoot(page, console, "items", lang)
    page.goto("/portal/")
    _shoot(page, console, "home", lang)
    page.goto(f"/portal/stages/{pseudo.pk}/records/{world['item'].pk}/")
    _shoot(page, console, "item-pseudonymised", lang)
    identified = stages["identified"]
    page.goto(f"/portal/stages/{identified.pk}/")
    _shoot(page, console, "items-identified", lang)
    first = identified.items.order_by("pk").first()
    page.goto(f"/portal/stages/{identified.pk}/records/{first.pk}/")
    _shoot(page, console, "item-identified", lang)
    page.goto(f"/portal/stages/{stages['aggregate'].pk}/")
    _shoot(page, console, "aggregate", lang)
    page.goto(f"/portal/stages/{pseudo.pk}/acknowledge/")
    page.fill("#id_merkle_root", "0" * 64)
    with page.expect_navigation():
        page.click(".td-ack form button[type=submit]")
    _shoot(page, console, "acknowledge-wrong-root", lang)
    page.fill("#id_merkle_root", pseudo.manifest.merkle_root)
    with page.expect_navigation():
        page.click(".td-ack form button[type=submit]")
    _shoot(page, console, "acknowledged", lang)
    page.goto(f"/portal/deals/{deal.pk}/questions/")
    _shoot(page, console, "questions", lang)
    page.goto(f"/portal/questions/{world['question'].pk}/")
    _shoot(page, console, "question", lang)
    # The buyer replies in the thread: it awaits the brokers' answer again.
    page.fill("#id_body", "Thank you. Does a sole trader with a commercial contract count?")
    with page.expect_navigation():
        page.click("form[action$='/follow-up/'] button[type=submit]")
    expect(page.locator(".td-msg-buyer")).to_have_count(2)
    _shoot(page, console, "question-replied", lang)
    page.goto(f"/portal/deals/{deal.pk}/follow-ups/")
    _shoot(page, console, "tasks", lang)
    # The XLSX export, downloaded and opened.
    page.goto(f"/portal/stages/{identified.pk}/")
    with page.expect_download() as download:
        page.click("form[action$='export.xlsx'] button")
    content = open(download.value.path(), "rb").read()  # noqa: SIM115
    sheet = page.context.new_page()  # about:blank: the portal's CSP does not apply
    sheet.set_viewport_size({"width": 1280, "height": 640})
    sheet.set_content(_xlsx_as_html(content))
    _shoot_plain(sheet, f"xlsx-export-{lang}")
    sheet.close()
    page.goto("/portal/")
    sign_out(page)

    sign_in(page, "broker", DEMO_PASSWORD)
    page.goto("/portal/questions/?status=open")  # the thread the buyer replied to is back
    expect(page.locator("body")).to_contain_text("segment 'business'")
    _shoot(page, console, "question-queue", lang)
    sign_out(page)
    sign_in(page, "compliance", DEMO_PASSWORD)
    page.goto("/portal/follow-ups/overdue/")
    _shoot(page, console, "overdue", lang)
    sign_out(page)


def _shoot_plain(page: Page, name: str) -> None:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / f"portal-{name}.png"), full_page=True)
