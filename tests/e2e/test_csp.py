"""The Content-Security-Policy holds: no inline styles, scripts or event handlers in templates,
the header is on every page, and a violation would be caught by the browser tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page

from tests.e2e.conftest import ConsoleWatch

TEMPLATES = Path(settings.BASE_DIR) / "templates"
# What the policy refuses: style attributes, <style> blocks, scripts without src, on* handlers,
# javascript: URLs.
FORBIDDEN = {
    "style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "<style> element": re.compile(r"<style[\s>]", re.IGNORECASE),
    "inline <script>": re.compile(
        r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")", re.I
    ),
    "event handler attribute": re.compile(r"<[a-z][^>{]*\son[a-z]+\s*=", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


def test_templates_hold_no_inline_styles_or_scripts() -> None:
    found = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        if "email" in template.relative_to(TEMPLATES).parts[:-1]:
            continue  # e-mail bodies are read in mail clients, which need inline styles
        text = template.read_text()
        for what, pattern in FORBIDDEN.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{template.relative_to(TEMPLATES)}:{line}: {what}")
    assert not found, "the Content-Security-Policy would block these:\n" + "\n".join(found)


@pytest.mark.browser
def test_pages_are_served_under_the_strict_policy(page: Page) -> None:
    response = page.goto("/accounts/login/")

    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy


@pytest.mark.browser
def test_an_inline_style_is_refused_and_reported_on_the_console(
    page: Page, console: ConsoleWatch
) -> None:
    """Proves the console watch of every browser test would catch a CSP violation."""
    page.goto("/accounts/login/")

    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')")
    page.wait_for_timeout(100)

    errors = console.take()
    assert any("Content Security Policy" in e for e in errors), errors
