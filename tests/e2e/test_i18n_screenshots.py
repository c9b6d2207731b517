"""Screenshots, in English and Chinese, of the pages whose words were left in English or in
codes: the deal page's timeline (people and roles), the staff receipt check's result and an
import's problems (``var/screenshots/``). Each page is checked for its language and for
console errors."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from customers.services import organization_grant
from tests.e2e.browser import screenshot, sign_in, use_language
from tests.factories import PASSWORD
from transfers import services
from transfers.choices import AssignmentRole

pytestmark = pytest.mark.browser


def _shoot(page: Page, console, name: str, lang: str) -> None:
    page.wait_for_load_state("networkidle")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    path = screenshot(page, name)
    assert path.stat().st_size > 10_000, f"{path} looks blank"
    assert console.take() == []


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_screenshots_of_the_translated_words(cast, page, live_server, console, lang, tmp_path):
    cast.buyer.first_name, cast.buyer.last_name = "Li", "Hua"
    cast.buyer.save()
    deal = services.deal_create(
        actor=cast.broker, reference="MER-NW-2026", title="Meridian service book",
        seller=cast.seller, buyer=cast.buyer_org, purposes="Continue the service.",
        legal_basis="Contract (GDPR art. 6(1)(b))",
    )  # fmt: skip
    services.deal_assign(actor=cast.broker, deal=deal, user=cast.buyer, role=AssignmentRole.BUYER)
    organization_grant(
        actor=cast.admin, user=cast.broker, organization=cast.seller, permission="manage_customers"
    )
    use_language(page, live_server.url, lang)
    page.goto("/accounts/login/")
    sign_in(page, cast.broker.username, PASSWORD)

    page.goto(f"/deals/{deal.pk}/")
    expect(page.get_by_text("Li Hua").first).to_be_visible()
    _shoot(page, console, "deal-timeline-people-and-roles", lang)

    page.goto("/deals/verify/")
    bundle = tmp_path / "receipt.json"
    bundle.write_text(json.dumps({"manifest": 1}))
    page.set_input_files("input[type=file]", str(bundle))
    with page.expect_navigation():
        page.click("form[enctype='multipart/form-data'] button[type=submit]")
    expect(page.locator(".invalid-feedback").first).to_be_visible()
    # A file that is no receipt is refused on its field: the page answers 400 on purpose.
    console.errors = [e for e in console.errors if "status of 400" not in e]
    _shoot(page, console, "staff-verify-result", lang)

    page.goto(f"/customers/books/{cast.seller.slug}/import/")
    upload = tmp_path / "customers.csv"
    upload.write_bytes(b"reference,full_name,email\nR-1,,bad\nR-1,Ok,a@b.cn\n")
    page.set_input_files("input[type=file]", str(upload))
    with page.expect_navigation():
        page.click("form[enctype='multipart/form-data'] button[type=submit]")
    with page.expect_navigation():
        page.click("form.td-table-card button[type=submit]")
    expect(page.locator("table").first).to_be_visible()
    _shoot(page, console, "import-result-problems", lang)
