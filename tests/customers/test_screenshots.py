"""Screenshots of the customer pages in English and Chinese (``var/screenshots/``), taken on
the demo book of ``seed_demo``: list, record masked and revealed, history, the core-field
correction (with an error, then saved, then the history revealed), import mapping, import
errors. Each page is also checked for its language, its heading and console errors (a CSP
violation is one)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e import conftest as e2e
from tests.e2e.browser import screenshot, sign_in, use_language
from tests.e2e.conftest import ConsoleWatch
from transferdesk.management.commands.seed_demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

# The real-browser fixtures of tests/e2e, used here by name.
browser = e2e.browser
compiled_catalogues = e2e.compiled_catalogues
console = e2e.console
demo_users = e2e.demo_users
page = e2e.page

MAPPING_FILE = (
    "客户编号,姓名,手机,邮箱,地址,身份证号,城市,客户类型,微信号\n"
    "N-00001,欧阳娜娜,13800138000,ouyang@example.cn,上海市黄浦区南京东路1号,"
    "110101199003077777,上海,零售 Retail,wx_ouyang\n"
).encode("gbk")
ERROR_FILE = (
    "客户编号,姓名,手机,邮箱,注册日期,金额\n"
    "MRD-00001,重复编号,13800138000,dup@example.cn,2021-01-01,\n"
    "E-2,,12345,not-an-email,2021-13-01,\n"
    "E-3,Grace Hall,+44 20 7946 0958,grace@example.com,2021/02/30,abc\n"
    "E-3,Grace Hall,,grace@example.com,,\n"
).encode("utf-8-sig")


def _shoot(page: Page, console: ConsoleWatch, name: str, lang: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("h1").first).to_be_visible()
    path = screenshot(page, name)
    assert path.stat().st_size > 10_000, f"{path} looks blank"
    assert console.take() == [], f"console errors on {name} ({lang})"


def _upload(page: Page, slug: str, name: str, content: bytes) -> None:
    page.goto(f"/customers/books/{slug}/import/")
    page.set_input_files(
        "input[type=file]", files=[{"name": name, "mimeType": "text/csv", "buffer": content}]
    )
    with page.expect_navigation():
        page.click("form[enctype] button[type=submit]")


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_screenshots_of_the_customer_pages(
    demo_users: None, page: Page, live_server, console: ConsoleWatch, lang: str
) -> None:
    use_language(page, live_server.url, lang)
    page.goto("/accounts/login/")
    sign_in(page, "broker", DEMO_PASSWORD)

    page.goto("/customers/")
    _shoot(page, console, "customer-books", lang)
    page.goto("/customers/books/meridian/")
    expect(page.locator("table tbody tr")).to_have_count(25)
    _shoot(page, console, "customer-list", lang)
    page.goto("/customers/books/meridian/?q=Wang")
    _shoot(page, console, "customer-search-no-substring", lang)

    page.goto("/customers/books/meridian/")
    with page.expect_navigation():
        page.locator("table tbody tr a").first.click()
    expect(page.locator("dd", has_text="••••••••").first).to_be_visible()
    _shoot(page, console, "customer-detail-masked", lang)
    page.select_option("#id_reason", "identity_check")
    with page.expect_navigation():
        page.click("form[action$='/reveal/'] button")
    expect(page.locator("dd", has_text="••••••••")).to_have_count(0)
    _shoot(page, console, "customer-detail-revealed", lang)
    with page.expect_navigation():
        page.click("form[action$='/verify/'] button")
    with page.expect_navigation():
        page.click(".nav-tabs a[href$='/history/']")
    _shoot(page, console, "customer-history", lang)

    # Correcting a core field: a mistyped IBAN is refused on its field, the fixed one saved,
    # and the history names the field; its values show after a reveal.
    with page.expect_navigation():
        page.click(".nav-tabs a[href$='/']:not([href$='/history/'])")
    with page.expect_navigation():
        page.click("a[href$='/correct-core/']")
    page.fill("#id_bank_account", "GB00 WEST 1234 5698 7654 32")
    page.select_option("#id_reason", "document_check")
    with page.expect_navigation():
        page.click("form.td-form-card button[type=submit]")
    expect(page.locator("#id_bank_account.is-invalid")).to_be_visible()
    console.errors = [e for e in console.errors if "status of 400" not in e]
    _shoot(page, console, "customer-correct-core-errors", lang)
    page.fill("#id_bank_account", "GB82 WEST 1234 5698 7654 32")
    with page.expect_navigation():
        page.click("form.td-form-card button[type=submit]")
    expect(page.locator(".alert-success, .alert-info").first).to_be_visible()
    with page.expect_navigation():
        page.click(".nav-tabs a[href$='/history/']")
    page.select_option("#id_reason", "correction")
    with page.expect_navigation():
        page.click("form[action$='/history/reveal/'] button")
    expect(page.locator("td", has_text="GB82WEST12345698765432")).to_have_count(1)
    _shoot(page, console, "customer-history-revealed", lang)

    _upload(page, "meridian", "customers.csv", MAPPING_FILE)
    expect(page.locator("select")).to_have_count(9)
    _shoot(page, console, "customer-import-mapping", lang)

    _upload(page, "meridian", "errors.csv", ERROR_FILE)
    with page.expect_navigation():
        page.click("form.td-table-card button[type=submit]")
    expect(page.locator(".alert-danger")).to_be_visible()
    expect(page.locator("table tbody tr").first).to_be_visible()
    _shoot(page, console, "customer-import-errors", lang)
