"""A broker creates a deal in the browser: the deal list, "New deal", the form by its labels,
the deal page; the row (and its data key) is in the database."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import sign_in
from tests.factories import PASSWORD
from transfers.models import TransferDeal

pytestmark = pytest.mark.browser


def test_a_broker_creates_a_deal_from_the_deal_list(page: Page, cast) -> None:
    page.goto("/accounts/login/")
    sign_in(page, cast.broker.username, PASSWORD)
    page.goto("/deals/")
    page.get_by_role("link", name="New deal").click()
    expect(page.get_by_role("heading", name="New deal")).to_be_visible()
    page.get_by_label("Reference").fill("D-2027-001")
    page.get_by_label("Title").fill("Northwind buys the retail book")
    page.get_by_label("Seller").select_option(label=str(cast.seller))
    page.get_by_label(re.compile(r"^Buyer")).select_option(label=str(cast.buyer_org))
    page.get_by_label("Target closing date").fill("2027-03-31")
    page.get_by_label("Purposes declared by the buyer").fill("Serving the customers' contracts")
    page.get_by_label("Legal basis").fill("Contract (PIPL art. 13(2))")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    expect(
        page.get_by_role("heading", name="D-2027-001 · Northwind buys the retail book")
    ).to_be_visible()
    expect(page.get_by_text("Deal created.")).to_be_visible()

    deal = TransferDeal.objects.get(reference="D-2027-001")
    assert (deal.seller, deal.buyer, deal.created_by) == (cast.seller, cast.buyer_org, cast.broker)
    assert deal.data_key_id is not None and not deal.data_key.is_destroyed
    assert page.url.endswith(f"/deals/{deal.pk}/")
