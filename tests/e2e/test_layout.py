"""Layout defects measured in Chromium: boxes of elements, not screenshots.

- the per-tier table of a stage's preview stays inside its card, at every desktop width of
  the stage planner (which gives the preview two thirds of the page);
- the buyer's records table is never wider than the page at 1440 px (it scrolls in its card);
- 客户 is never stacked one character per line in a table, however narrow the screen (a
  phone, the compliance dashboard's handover table).
"""

from __future__ import annotations

from contextlib import nullcontext

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import sign_in, use_language
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser

#: Each table of the preview against the card body around it: its right edge, and whether
#: the body has to scroll (its content wider than its box).
PREVIEW_TABLES = """() => [...document.querySelectorAll('main table')].map(t => {
  const body = t.closest('.card-body');
  return {heads: [...t.querySelectorAll('th')].map(h => h.textContent.trim()).join('|'),
          table: t.getBoundingClientRect().right, card: body.getBoundingClientRect().right,
          scroll: body.scrollWidth, client: body.clientWidth};
})"""

#: The page's width against the window's, and the records table's box.
PAGE_WIDTH = """() => {
  const table = document.querySelector('.td-records table');
  const card = table.closest('.card');
  return {page: document.documentElement.scrollWidth, window: document.documentElement.clientWidth,
          card: card.getBoundingClientRect().right};
}"""

#: The texts of table headings and cells holding ``word`` that are drawn one or two characters
#: per line (a column squeezed to the width of a character): a long text wrapping between two
#: characters is ordinary Chinese line breaking, a heading stacked character by character is
#: not.
SQUEEZED = """(word) => {
  const squeezed = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement.closest('th, td') || !node.data.includes(word)) continue;
    const tops = new Set();
    let chars = 0;
    for (let i = 0; i < node.data.length; i++) {
      if (!node.data[i].trim()) continue;
      const range = document.createRange();
      range.setStart(node, i); range.setEnd(node, i + 1);
      tops.add(Math.round(range.getBoundingClientRect().top));
      chars++;
    }
    if (tops.size > 1 && chars <= 2 * tops.size) squeezed.push(node.data.trim());
  }
  return squeezed;
}"""


@pytest.fixture
def delivered_deal(cast):
    """The portal tests' deal (tests/portal/conftest.py): pseudonymised, identified and
    aggregate stages delivered and one in draft, the buyer past the NDA."""
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


def _signed_in(page: Page, live_server, user, lang: str) -> None:
    use_language(page, live_server.url, lang)
    page.goto("/accounts/login/")
    sign_in(page, user.username, PASSWORD)


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_the_per_tier_table_stays_inside_its_card(
    page: Page, live_server, cast, delivered_deal, lang
):
    _signed_in(page, live_server, cast.broker, lang)
    for width in (992, 1024, 1200, 1280, 1440):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"/deals/stages/{delivered_deal.draft.pk}/edit/")
        page.click("button[name=preview]")
        # The preview is the next page: wait for its tables, not for the click to return.
        expect(page.locator("main table")).to_have_count(3)
        tables = page.evaluate(PREVIEW_TABLES)
        for table in tables:
            assert table["table"] <= table["card"] + 0.5, (width, table)
            assert table["scroll"] <= table["client"], (width, table)


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_the_buyers_records_table_is_never_wider_than_the_page(
    page: Page, live_server, cast, delivered_deal, lang
):
    page.set_viewport_size({"width": 1440, "height": 900})
    _signed_in(page, live_server, cast.buyer, lang)
    for stage in (delivered_deal.pseudo, delivered_deal.identified):
        page.goto(f"/portal/stages/{stage.pk}/")
        box = page.evaluate(PAGE_WIDTH)
        assert box["page"] <= box["window"], (stage.kind, box)
        assert box["card"] <= box["window"], (stage.kind, box)


def test_kehu_is_never_stacked_one_character_per_line_in_a_table(
    page: Page, live_server, cast, delivered_deal
):
    from transfers.models import TransferDeal

    # A title as long as the demo's: its column takes the room of the others.
    TransferDeal.objects.filter(pk=delivered_deal.deal.pk).update(
        title="Meridian appliance service book 美瑞家电服务客户"
    )
    pages = {
        cast.compliance: ["/compliance/", "/deals/"],
        cast.broker: ["/deals/", f"/deals/{delivered_deal.deal.pk}/"],
        cast.buyer: ["/portal/", f"/portal/stages/{delivered_deal.aggregate.pk}/"],
    }
    for user, urls in pages.items():
        page.context.clear_cookies()
        _signed_in(page, live_server, user, "zh-hans")
        for width in (390, 768, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            for url in urls:
                page.goto(url)
                page.evaluate("document.fonts.ready.then(() => true)")
                assert page.evaluate(SQUEEZED, "客户") == [], (user.username, width, url)
