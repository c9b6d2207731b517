"""Chinese is drawn in a font that has its glyphs on a machine without Chinese fonts: the
notice e-mail's preview page and the chain-head label of the compliance dashboard.

Chromium here runs with a fontconfig that knows only Bitstream Vera (Latin only), as on a
new user's machine with no CJK font installed. Which font Chromium really drew each text
node with comes from the DevTools protocol (``CSS.getPlatformFontsForNode``): the shipped
web font is a "custom" font; anything else would draw boxes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import reportlab
from django.utils import timezone
from playwright.sync_api import Browser, Page

from tests.e2e.browser import screenshot, sign_in, use_language
from tests.e2e.conftest import _SHARED, CHROMIUM, CHROMIUM_ARGS, VIEWPORT, ConsoleWatch
from tests.factories import PASSWORD
from transfers import notices, services
from transfers.choices import AssignmentRole

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def latin_only_browser(browser: Browser, tmp_path_factory) -> Iterator[Browser]:
    """A second Chromium whose fontconfig holds Latin fonts only (the shared one's Playwright)."""
    folder = tmp_path_factory.mktemp("fontconfig")
    vera = Path(reportlab.__file__).parent / "fonts"
    config = folder / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<dir>{vera}</dir><cachedir>{folder / 'cache'}</cachedir></fontconfig>"
    )
    chromium = _SHARED["playwright"].chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        env={"FONTCONFIG_FILE": str(config), "HOME": str(folder)},
    )
    yield chromium
    chromium.close()


@pytest.fixture
def bare_page(latin_only_browser, live_server, transactional_db, compiled_catalogues):
    console = ConsoleWatch()
    context = latin_only_browser.new_context(
        base_url=live_server.url, viewport=VIEWPORT, locale="en-GB", device_scale_factor=1
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and console.errors.append(m.text))
    yield page
    context.close()
    assert console.unexpected() == []


def _fonts_drawing(page: Page, selector: str) -> list[dict]:
    """The fonts Chromium used for the text of the first element matching ``selector``."""
    page.evaluate("document.fonts.ready.then(() => true)")
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    assert node, selector
    return cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]


def _assert_chinese_in_shipped_font(page: Page, selector: str) -> None:
    text = page.locator(selector).first.inner_text()
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text), text
    family = page.locator(selector).first.evaluate("e => getComputedStyle(e).fontFamily")
    assert "TD CJK" in family, family
    fonts = _fonts_drawing(page, selector)
    # Every font that drew part of the text either is the shipped web font or a Latin one
    # that drew only Latin glyphs: no system font stood in for the Chinese characters.
    custom = [f for f in fonts if f["isCustomFont"]]
    assert custom and custom[0]["familyName"] == "Droid Sans Fallback", fonts
    latin = sum(f["glyphCount"] for f in fonts if not f["isCustomFont"])
    assert latin <= sum(1 for ch in text if ord(ch) < 0x2E80), fonts


def _deal_with_campaign(cast):
    deal = services.deal_create(
        actor=cast.broker, reference="MER-NW-2026", title="Meridian service book",
        seller=cast.seller, buyer=cast.buyer_org,
        purposes="Continue warranty and repair service.",
        legal_basis="Legitimate interests (GDPR art. 6(1)(f))",
    )  # fmt: skip
    services.deal_assign(actor=cast.broker, deal=deal, user=cast.buyer, role=AssignmentRole.BUYER)
    campaign = notices.campaign_prepare(
        actor=cast.broker, deal=deal, objection_deadline=timezone.now() + timedelta(days=30)
    )
    return deal, campaign


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_the_notice_email_preview_draws_chinese_in_the_shipped_font(cast, bare_page, lang):
    _deal, campaign = _deal_with_campaign(cast)
    bare_page.goto("/accounts/login/")
    sign_in(bare_page, cast.broker.username, PASSWORD)
    bare_page.goto(f"/notices/{campaign.pk}/preview/?lang={lang}")
    bare_page.wait_for_load_state("networkidle")
    screenshot(bare_page, "notice-email-preview-latin-only-machine")
    if lang == "zh-hans":
        _assert_chinese_in_shipped_font(bare_page, "h1")


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_the_chain_head_label_draws_chinese_in_the_shipped_font(cast, bare_page, live_server, lang):
    _deal_with_campaign(cast)
    use_language(bare_page, live_server.url, lang)
    bare_page.goto("/accounts/login/")
    sign_in(bare_page, cast.compliance.username, PASSWORD)
    bare_page.goto("/compliance/")
    bare_page.wait_for_load_state("networkidle")
    screenshot(bare_page, "compliance-dashboard-latin-only-machine")
    if lang == "zh-hans":
        _assert_chinese_in_shipped_font(bare_page, ".td-head")
