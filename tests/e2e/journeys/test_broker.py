"""The broker's day, in the browser only: create a deal, import the seller's GB18030 export
(no reference column, full-width values typed by Chinese input methods, one bad row), read the
row error, upload the corrected file with generated references, then find a customer by the
full-width e-mail address. Run in English and in Chinese, with a screenshot of every step in
``var/screenshots/journeys/``.

Set up outside the browser, because no page does it yet: the cast (tests/factories.py), the
seller placed in China, and the broker's grant on the seller's customer book.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from customers.models import Customer
from customers.services import organization_grant
from tests.e2e.browser import sign_in, use_language
from tests.e2e.conftest import ConsoleWatch
from tests.e2e.journeys.journey import LANGUAGES, Journey
from tests.factories import PASSWORD, Cast
from transferdesk.crypto.blind_index import cn_resident_id_ok
from transfers.models import TransferDeal

pytestmark = pytest.mark.browser

FULL_WIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})
LI_HUA = "LI.HUA@EXAMPLE.CN".translate(FULL_WIDTH)  # typed with a Chinese input method


def resident_id(body: str) -> str:
    """``body`` (17 digits) with its check character."""
    return next(body + c for c in "0123456789X" if cn_resident_id_ok(body + c))


def export(zhao_id: str) -> bytes:
    """The seller's export as their spreadsheet saves it: GB18030, Chinese headers, no
    reference column; 李华's e-mail, phone and id number in full width."""
    rows = [
        "姓名,邮箱,手机,地址,身份证号",
        f"王小明,wang@example.cn,13800138000,上海市浦东新区世纪大道1号,{resident_id('11010519491231002')}",
        f"李华,{LI_HUA},{'13912345678'.translate(FULL_WIDTH)},北京市朝阳区建国路8号,"
        f"{resident_id('11010119900307777').translate(FULL_WIDTH)}",
        f"赵丽,zhao@example.cn,13700137000,广州市天河区体育西路2号,{zhao_id}",
    ]
    return ("\r\n".join(rows) + "\r\n").encode("gb18030")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_broker_creates_a_deal_and_imports_a_gbk_export(
    page: Page,
    cast: Cast,
    live_server: LiveServer,
    console: ConsoleWatch,
    lang: str,
) -> None:
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
