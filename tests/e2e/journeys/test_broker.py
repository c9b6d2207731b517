"""The broker's day, in the browser only: create a deal, import the seller's GB18030 export
(no reference column, full-width values typed by Chinese input methods, one bad row), read the
row error, upload the corrected file with generated references, find a customer by the
full-width e-mail address; plan, preview and submit the three stage kinds (aggregate,
pseudonymised for one segment, identified with every tier); prepare the transfer notices and
read them in English and in Chinese, send them, print the letters for the two customers
without e-mail (the PDF's text, and its QR codes read by zbar) and record one letter and one
phone call. Run in English and in Chinese, with a screenshot of every step in
``var/screenshots/journeys/``.

Set up outside the browser, because no page does it yet or another journey owns it: the cast
(tests/factories.py), the seller placed in China, the broker's grant on the seller's customer
book, and the compliance officer's assignment and approval of the notices (the compliance
journey approves them on her page).
"""

from __future__ import annotations

import re
import shutil
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation
from playwright.sync_api import Page, expect
from pypdf import PdfReader
from pytest_django.live_server_helper import LiveServer

from customers.choices import Tier
from customers.models import Customer
from customers.services import organization_grant
from tests.e2e.browser import SCREENSHOT_DIR, sign_in, use_language
from tests.e2e.conftest import ConsoleWatch
from tests.e2e.journeys.journey import LANGUAGES, Journey
from tests.factories import PASSWORD, Cast
from tests.support.pdf_pages import qr_codes
from transferdesk.crypto.blind_index import cn_resident_id_ok
from transferdesk.trail import AuditAction, AuditEvent
from transfers import notices, services
from transfers.choices import AssignmentRole, StageKind, StageStatus
from transfers.models import HandoverStage, TransferDeal
from transfers.notice_models import (
    CampaignStatus,
    Notice,
    NoticeCampaign,
    NoticeChannel,
    NoticeStatus,
)

pytestmark = pytest.mark.browser

FULL_WIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})
LI_HUA = "LI.HUA@EXAMPLE.CN".translate(FULL_WIDTH)  # typed with a Chinese input method


def resident_id(body: str) -> str:
    """``body`` (17 digits) with its check character."""
    return next(body + c for c in "0123456789X" if cn_resident_id_ok(body + c))


def export(zhao_id: str) -> bytes:
    """The seller's export as their spreadsheet saves it: GB18030, Chinese headers, no
    reference column; 李华's e-mail, phone and id number in full width; 王小明 and 赵丽 have
    no e-mail address (their notices go by letter and by phone)."""
    rows = [
        "姓名,邮箱,手机,地址,身份证号,客户类型",
        f"王小明,,13800138000,上海市浦东新区世纪大道1号,{resident_id('11010519491231002')},零售",
        f"李华,{LI_HUA},{'13912345678'.translate(FULL_WIDTH)},北京市朝阳区建国路8号,"
        f"{resident_id('11010119900307777').translate(FULL_WIDTH)},零售",
        f"赵丽,,13700137000,广州市天河区体育西路2号,{zhao_id},企业",
    ]
    return ("\r\n".join(rows) + "\r\n").encode("gb18030")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_broker_creates_a_deal_imports_plans_stages_and_prints_letters(
    page: Page,
    cast: Cast,
    live_server: LiveServer,
    console: ConsoleWatch,
    tmp_path: Path,
    settings: Any,
    lang: str,
) -> None:
    settings.PUBLIC_BASE_URL = live_server.url  # the letters' links and QR codes
    seller = cast.seller
    seller.legal_name, seller.country = "美的家电 Meridian Appliances (Shanghai)", "CN"
    seller.save(update_fields=["legal_name", "country"])
    organization_grant(
        actor=cast.admin, user=cast.broker, organization=seller, permission="manage_customers"
    )
    use_language(page, live_server.url, lang)
    j = Journey(page, console, lang, "broker")
    t = j.t

    # --- sign in, create the deal ------------------------------------------------------
    page.goto("/accounts/login/")
    j.shot("sign-in")
    sign_in(page, cast.broker.username, PASSWORD)
    expect(page.get_by_role("heading", name=t("Deals"), exact=True)).to_be_visible()
    j.shot("deals")
    page.get_by_role("link", name=t("New deal")).click()
    expect(page.get_by_role("heading", name=t("New deal"))).to_be_visible()
    page.get_by_label(j.label("reference")).fill("D-2027-001")
    page.get_by_label(j.label("title")).fill("Northwind 收购零售客户")
    page.get_by_label(j.label("seller")).select_option(label=seller.legal_name)
    page.get_by_label(j.label("buyer")).select_option(label=cast.buyer_org.legal_name)
    page.get_by_label(j.label("target closing date")).fill("2027-03-31")
    page.get_by_label(j.label("purposes declared by the buyer")).fill("继续履行客户合同")
    page.get_by_label(j.label("legal basis")).fill("PIPL art. 22")
    j.shot("deal-form")
    with page.expect_navigation():
        page.get_by_role("button", name=t("Save")).click()
    expect(page.get_by_role("heading", name="D-2027-001 · Northwind 收购零售客户")).to_be_visible()
    deal = TransferDeal.objects.get(reference="D-2027-001")
    assert (deal.seller, deal.buyer, deal.created_by) == (seller, cast.buyer_org, cast.broker)
    assert deal.data_key_id is not None
    j.shot("deal")

    # --- the seller's book: upload the export with one bad row ---------------------------
    page.get_by_role("link", name=t("Customers"), exact=True).first.click()
    page.get_by_role("link", name=seller.legal_name).click()
    page.get_by_role("link", name=t("Import customers")).click()
    expect(page.get_by_role("heading", name=t("Import customers"))).to_be_visible()
    j.shot("import-upload")

    def upload(data: bytes) -> None:
        page.get_by_label(re.compile("^" + re.escape(t("Customer file")))).set_input_files(
            files=[{"name": "客户导出.csv", "mimeType": "text/csv", "buffer": data}]
        )
        with page.expect_navigation():
            page.get_by_role("button", name=t("Upload and map columns")).click()
        expect(page.get_by_role("heading", name=t("Map the columns"))).to_be_visible()

    upload(export(zhao_id="BADID"))
    generate = page.get_by_label(t("Generate references"))
    expect(generate).to_be_checked()  # no column holds a reference: offered, and ticked
    expect(page.get_by_text("TD-000001")).to_be_visible()  # the preview: first and last
    expect(page.get_by_text("TD-000003")).to_be_visible()
    j.shot("mapping")
    with page.expect_navigation():
        page.get_by_role("button", name=t("Check and import")).click()
    expect(page.get_by_text(t("Nothing was imported."))).to_be_visible()
    problem = page.get_by_role("row").filter(has_text="身份证号")
    expect(problem).to_have_count(1)
    expect(problem.get_by_role("cell").first).to_have_text("4")
    message = t(
        "A resident id number in China has 18 characters: 17 digits and a final digit or X."
    )
    expect(problem).to_contain_text(message)
    assert not Customer.objects.filter(organization=seller).exists()  # all or nothing
    j.shot("row-error")

    # --- the corrected file, with generated references -----------------------------------
    page.get_by_role("link", name=t("Import another file")).click()
    upload(export(zhao_id=resident_id("44010619850101123")))
    page.get_by_label(t("Generate references")).check()
    j.shot("mapping-corrected")
    with page.expect_navigation():
        page.get_by_role("button", name=t("Check and import")).click()
    expect(page.get_by_role("status")).to_contain_text("TD-000001")
    expect(page.get_by_role("status")).to_contain_text("TD-000003")
    j.shot("imported")
    assert sorted(
        Customer.objects.filter(organization=seller).values_list("reference", flat=True)
    ) == ["TD-000001", "TD-000002", "TD-000003"]
    li = Customer.objects.get(organization=seller, reference="TD-000002")
    assert (li.full_name, li.email, li.phone) == ("李华", "LI.HUA@EXAMPLE.CN", "+8613912345678")
    assert li.national_id == resident_id("11010119900307777")

    # --- find 李华 by the e-mail address as typed in full width --------------------------
    page.get_by_role("link", name=t("Open the customer book")).click()
    page.get_by_label(t("Exact search")).fill(LI_HUA)
    with page.expect_navigation():
        page.get_by_role("button", name=t("Search"), exact=True).click()
    rows = page.get_by_role("row").filter(has_text="TD-0000")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("TD-000002")
    expect(rows).to_contain_text("李华")
    j.shot("search")

    # --- plan the three stage kinds, preview each, submit each ---------------------------
    page.goto(f"/deals/{deal.pk}/")
    plans = [
        ("总体统计 Aggregate", StageKind.AGGREGATE, [Tier.GENERAL], [], 3),
        ("零售假名 Pseudonymised", StageKind.PSEUDONYMISED, [Tier.GENERAL], ["零售"], 2),
        ("实名移交 Identified", StageKind.IDENTIFIED, list(Tier), [], 3),
    ]
    for name, kind, tiers, segments, total in plans:
        page.get_by_role("link", name=t("Plan a stage")).click()
        expect(
            page.get_by_role("heading", name=f"{t('Plan a stage')} · D-2027-001")
        ).to_be_visible()
        page.get_by_label(j.label("Stage name")).fill(name)
        page.get_by_label(j.label("Kind")).select_option(label=j.text(kind.label))
        page.get_by_label(j.label("Tiers")).select_option(label=[j.text(x.label) for x in tiers])
        page.get_by_label(j.label("Segments")).select_option(label=segments)
        with page.expect_navigation():
            page.get_by_role("button", name=t("Preview"), exact=True).click()
        handed = page.locator(".card").filter(
            has=page.get_by_role("heading", name=t("Customers handed over"))
        )
        expect(handed.locator(".display-6")).to_have_text(str(total))
        j.shot(f"plan-{kind}")
        with page.expect_navigation():
            page.get_by_role("button", name=t("Save draft")).click()
        expect(
            page.get_by_text(t("Stage saved as a draft. Submit it for approval."))
        ).to_be_visible()
        with page.expect_navigation():
            page.get_by_role("button", name=t("Submit for approval")).click()
        expect(
            page.get_by_text(t("Submitted for approval by a compliance officer."))
        ).to_be_visible()
        stage = HandoverStage.objects.get(deal=deal, name=name)
        assert (stage.kind, stage.status, stage.total) == (kind, StageStatus.SUBMITTED, total)
        assert stage.tier_scope == list(tiers)
        assert stage.selection == ({"segment": segments} if segments else {})
        assert stage.submitted_by == cast.broker
        j.shot(f"submitted-{kind}")
        page.get_by_role("link", name="D-2027-001", exact=True).first.click()
    identified = HandoverStage.objects.get(deal=deal, kind=StageKind.IDENTIFIED)
    assert identified.preview["by_tier"].keys() == {x.value for x in Tier}

    # --- prepare the transfer notices, read them in English and in Chinese --------------
    page.get_by_role("link", name=t("Transfer notices")).click()
    expect(page.get_by_text(t("No notices prepared yet"))).to_be_visible()
    j.shot("notices")
    with page.expect_navigation():
        page.get_by_role("button", name=t("Prepare"), exact=True).click()
    expect(
        page.get_by_text(t("Notices prepared; a compliance officer approves them."))
    ).to_be_visible()
    campaign = NoticeCampaign.objects.get(deal=deal)
    assert (campaign.status, campaign.prepared_by) == (CampaignStatus.DRAFT, cast.broker)
    assert {s["name"] for s in campaign.stages_planned} == {name for name, *_ in plans}
    expect(page.get_by_text(t("Not sent yet"))).to_be_visible()
    j.shot("notices-prepared")
    for language, words in (("en", "You can object until"), ("zh-hans", "您可以在")):
        page.get_by_role(
            "link", name=t(f"Preview ({'English' if language == 'en' else 'Chinese'})")
        ).click()
        expect(page.locator("body")).to_contain_text(cast.buyer_org.legal_name)
        expect(page.locator("body")).to_contain_text(words)
        page.go_back()

    # The officer approves them on her own page (the compliance journey walks it).
    services.deal_assign(
        actor=cast.broker, deal=deal, user=cast.compliance, role=AssignmentRole.COMPLIANCE
    )
    notices.campaign_approve(actor=cast.compliance, campaign=campaign)

    # --- send them: the two customers without e-mail wait for a letter or a call ---------
    page.reload()
    with page.expect_navigation():
        page.get_by_role("button", name=t("Send the notices")).click()
    manual = page.get_by_role("row").filter(has_text="TD-00000")
    expect(manual).to_have_count(2)
    expect(manual.first).to_contain_text("TD-000001")
    expect(manual.last).to_contain_text("TD-000003")
    j.shot("notices-sent")
    waiting = Notice.objects.filter(campaign=campaign, status=NoticeStatus.MANUAL)
    assert sorted(waiting.values_list("customer__reference", flat=True)) == [
        "TD-000001",
        "TD-000003",
    ]

    # --- print the letters: one PDF, a page each, the link written out and as a QR code --
    with translation.override(lang):
        print_all = translation.ngettext(
            "Print the letter (PDF)", "Print the %(n)s letters (PDF)", 2
        ) % {"n": 2}
    with page.expect_download() as download:
        page.get_by_role("button", name=print_all).click()
    assert download.value.suggested_filename == "letters-D-2027-001.pdf"
    pdf = Path(download.value.path()).read_bytes()
    reader = PdfReader(BytesIO(pdf))
    texts = [p.extract_text() for p in reader.pages]
    assert len(texts) == 2
    assert "王小明" in texts[0] + texts[1] and "上海市浦东新区世纪大道1号" in texts[0] + texts[1]
    assert "赵丽" in texts[0] + texts[1] and "广州市天河区体育西路2号" in texts[0] + texts[1]
    codes = qr_codes(pdf, tmp_path)
    letter = SCREENSHOT_DIR / "journeys" / f"broker-{j.step:02d}-letter-{lang}.png"
    shutil.copy(tmp_path / "page-1.png", letter)  # the printed page, to look at with the rest
    links = [notices.link_resolve(code.rsplit("/n/", 1)[1].rstrip("/")) for code in codes]
    assert all(code.startswith(live_server.url + "/n/") for code in codes), codes
    assert {link.customer.reference for link in links} == {"TD-000001", "TD-000003"}
    for code, text in zip(codes, texts, strict=True):
        assert code in text.replace("\n", "")  # written out too, for a reader without a phone
    printed = AuditEvent.objects.get(action=AuditAction.EXPORT, object_id=str(campaign.pk))
    assert printed.actor == cast.broker and printed.details["letters"] == 2
    assert "王小明" not in str(printed.details)

    # --- record the letter to 王小明 and the call to 赵丽 --------------------------------
    for reference, channel in (
        ("TD-000001", NoticeChannel.LETTER),
        ("TD-000003", NoticeChannel.PHONE),
    ):
        row = page.get_by_role("row").filter(has_text=reference)
        row.get_by_label(t("Channel")).select_option(channel.value)
        with page.expect_navigation():
            row.get_by_role("button", name=t("Done"), exact=True).click()
        expect(page.get_by_text(t("Recorded."))).to_be_visible()
    with translation.override(lang):
        recorded = translation.ngettext(
            "The letter or call is recorded", "All %(n)s letters and calls are recorded", 2
        ) % {"n": 2}
    expect(page.get_by_text(recorded)).to_be_visible()
    j.shot("letters-recorded")
    done = Notice.objects.filter(campaign=campaign, status=NoticeStatus.MANUAL_DONE)
    assert dict(done.values_list("customer__reference", "channel")) == {
        "TD-000001": NoticeChannel.LETTER,
        "TD-000003": NoticeChannel.PHONE,
    }
    told = AuditEvent.objects.filter(action=AuditAction.NOTICE_SENT, actor=cast.broker)
    assert sorted(e.details["channel"] for e in told) == ["letter", "phone"]
