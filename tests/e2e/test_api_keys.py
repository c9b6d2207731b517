"""A compliance officer issues an API key in the browser (giving the second factor again, as it
is stale), sees it once, the seller's system calls the API with it over HTTP, then the officer
revokes it and the API refuses it (issues 18 and 15). In English and in Chinese."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from playwright.sync_api import Page, expect

from api.models import OrganizationAPIKey
from tests.e2e.browser import enter_code, screenshot, sign_in, use_language
from tests.e2e.conftest import ConsoleWatch
from tests.e2e.journeys.journey import LANGUAGES, Journey
from tests.factories import PASSWORD, Cast
from tests.support.mfa import age_second_factor, totp_code
from tests.transfers.conftest import make_deal

pytestmark = pytest.mark.browser


def call_api(base_url: str, key: str) -> tuple[int, dict[str, Any]]:
    """What the seller's system does: a plain HTTP request with the key in its header."""
    request = urllib.request.Request(  # noqa: S310 (the live server's own http address)
        f"{base_url}/api/v1/deals/", headers={"Authorization": f"Api-Key {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def stale_factor() -> None:
    """Eleven minutes since the officer gave the second factor (moved back, not waited)."""
    session = Session.objects.get()
    engine = Session.get_session_store_class()(session_key=session.session_key)
    engine.update(session.get_decoded())
    age_second_factor(engine, 11 * 60)
    engine.save()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_compliance_issues_a_key_the_system_uses_it_then_it_is_revoked(
    cast: Cast, page: Page, console: ConsoleWatch, live_server: Any, lang: str
) -> None:
    make_deal(cast)
    journey = Journey(page, console, lang, "compliance-api-keys")
    use_language(page, live_server.url, lang)
    sign_in(page, "compliance", PASSWORD)
    page.click(".td-user")
    page.get_by_role("link", name=journey.t("API keys")).click()
    expect(page.get_by_role("heading", name=journey.t("No API key yet"))).to_be_visible()
    journey.shot("keys-empty")

    stale_factor()
    page.get_by_label(journey.label("Organisation")).select_option(label=cast.seller.legal_name)
    page.get_by_label(journey.label("Key name")).fill("Seller CRM")
    page.get_by_label(journey.label("Scopes")).select_option("stages.read")
    with page.expect_navigation():
        page.get_by_role("button", name=journey.t("Create the key")).click()
    # The step-up: the factor again, then back to the creation, replayed.
    expect(page).to_have_url(re.compile(r"/accounts/2fa/reauthenticate/"))
    assert not OrganizationAPIKey.objects.exists()
    enter_code(page, totp_code(cast.compliance))
    expect(page.get_by_role("heading", name=journey.t("API key created"))).to_be_visible()
    key = page.get_by_label(journey.t("Key"), exact=True).input_value()
    stored = OrganizationAPIKey.objects.get()
    assert key.startswith(f"{stored.prefix}.") and stored.scopes == ["stages.read"]
    journey.shot("key-shown-once")

    status, body = call_api(live_server.url, key)
    assert status == 200
    assert [deal["reference"] for deal in body["results"]] == ["D-1"]

    page.get_by_role("link", name=journey.t("Back to the keys")).click()
    row = page.locator("tr", has_text=stored.prefix)
    expect(row).to_contain_text("Seller CRM")
    assert key not in page.content()  # listed by prefix; the key itself is never shown again
    with page.expect_navigation():
        row.get_by_role("button", name=journey.t("Revoke")).click()
    expect(page.locator("tr", has_text=stored.prefix)).to_contain_text(journey.t("Revoked"))
    journey.shot("key-revoked")

    status, body = call_api(live_server.url, key)
    assert status == 401


def test_the_api_documentation_renders_under_the_strict_policy(page: Page) -> None:
    """Swagger UI from the vendored sidecar: no inline script or style, nothing from another
    origin (the page fixture fails the test on any console error, CSP violations included)."""
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    response = page.goto("/api/docs/")
    assert response is not None
    assert "unsafe-inline" not in response.headers["content-security-policy"]

    expect(page.get_by_role("link", name="/api/v1/deals/{id}/", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Authorize"))).to_be_visible()
    origin = page.url.split("/api/")[0]
    assert all(url.startswith(origin) or url.startswith("data:") for url in requests), requests
    screenshot(page, "api-docs")
