"""What every journey shares: the words of a step in the page's language, looked up in the
catalogue as the page shows them, and a numbered screenshot per step under
``var/screenshots/journeys/<role>-<nn>-<step>-<lang>.png`` that also fails the journey on any
console error logged since the previous step, and on a page wider than the window."""

from __future__ import annotations

import re

from django.utils import translation
from django.utils.text import capfirst
from playwright.sync_api import Page, expect

from tests.e2e.browser import SCREENSHOT_DIR, screenshot
from tests.e2e.conftest import ConsoleWatch

LANGUAGES = ["en", "zh-hans"]


class Journey:
    """One person's walk through the pages, in one language."""

    def __init__(self, page: Page, console: ConsoleWatch, lang: str, role: str) -> None:
        self.page, self.console, self.lang, self.role, self.step = page, console, lang, role, 0
        (SCREENSHOT_DIR / "journeys").mkdir(parents=True, exist_ok=True)

    def t(self, msgid: str, lang: str | None = None) -> str:
        """``msgid`` as the interface in ``lang`` (the journey's by default) shows it."""
        with translation.override(lang or self.lang):
            return translation.gettext(msgid)

    def text(self, value: object) -> str:
        """A lazy string (a choice's label, a form's message) in the journey's language."""
        with translation.override(self.lang):
            return str(value)

    def label(self, verbose_name: str) -> re.Pattern[str]:
        """A model field's form label (capitalised verbose name), with or without the
        required mark."""
        return re.compile("^" + re.escape(capfirst(self.t(verbose_name))) + r"\s*\*?$")

    def shot(self, name: str, page: Page | None = None) -> None:
        """The next step's screenshot, of the journey's page or of another person's."""
        page = page or self.page
        self.step += 1
        expect(page.locator("html")).to_have_attribute("lang", self.lang)
        screenshot(page, f"journeys/{self.role}-{self.step:02d}-{name}")
        wide = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert wide[0] <= wide[1], f"the page at {name} ({self.lang}) is wider than the window"
        errors = self.console.take()
        assert errors == [], f"console errors at {name} ({self.lang}): {errors}"
