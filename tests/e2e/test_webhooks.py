"""A compliance officer adds a webhook endpoint in the browser (giving the second factor again,
as it is stale) and sees its secret once; a stage is delivered and the buyer's system, a real
HTTP server on loopback, receives the signed message; the officer sees the delivery on the
endpoint's page and replays it (issue 18). In English and in Chinese."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from standardwebhooks import Webhook

from api.webhook_models import WebhookAttempt, WebhookEndpoint
from customers.choices import Tier
from tests.api.test_webhooks import Receiver
from tests.e2e.browser import enter_code, sign_in, use_language
from tests.e2e.conftest import ConsoleWatch
from tests.e2e.journeys.journey import LANGUAGES, Journey
from tests.e2e.test_api_keys import stale_factor
from tests.factories import PASSWORD, Cast, CustomerFactory
from tests.support.mfa import totp_code
from tests.support.world import tasks_in_process
from tests.transfers.conftest import make_deal
from transfers import services
from transfers.choices import StageKind
from transfers.engine import run_stage

pytestmark = pytest.mark.browser


def deliver_a_stage(cast: Cast) -> None:
    """The broker's stage approved by compliance and run by the engine, in-process; each step
    commits, so the webhook is sent after the commit as in production."""
    deal = make_deal(cast)
    CustomerFactory(organization=cast.seller)
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name="First", kind=StageKind.PSEUDONYMISED,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    services.stage_submit(actor=cast.broker, stage=stage)
    services.stage_approve(actor=cast.compliance, stage=stage, note="ok")
    with tasks_in_process():
        run_stage(stage.pk)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_compliance_adds_an_endpoint_sees_a_delivery_and_replays_it(
    cast: Cast, page: Page, console: ConsoleWatch, live_server: Any, lang: str
) -> None:
    server = Receiver()
    try:
        journey = Journey(page, console, lang, "compliance-webhooks")
        use_language(page, live_server.url, lang)
        sign_in(page, "compliance", PASSWORD)
        page.click(".td-user")
        page.get_by_role("link", name=journey.t("Webhooks")).click()
        expect(
            page.get_by_role("heading", name=journey.t("No webhook endpoint yet"))
        ).to_be_visible()

        stale_factor()
        page.get_by_label(journey.label("Organisation")).select_option(
            label=cast.buyer_org.legal_name
        )
        page.get_by_label(journey.label("Address")).fill(server.url)
        page.get_by_label(journey.label("Description")).fill("Buyer CRM")
        page.get_by_label(journey.label("Subscribed events")).select_option("stage.delivered")
        journey.shot("webhooks-form")
        with page.expect_navigation():
            page.get_by_role("button", name=journey.t("Add the endpoint")).click()
        expect(page).to_have_url(re.compile(r"/accounts/2fa/reauthenticate/"))
        assert not WebhookEndpoint.objects.exists()
        enter_code(page, totp_code(cast.compliance))
        expect(
            page.get_by_role("heading", name=journey.t("Webhook endpoint added"))
        ).to_be_visible()
        secret = page.get_by_label(journey.t("Signing secret")).input_value()
        assert secret.startswith("whsec_")
        journey.shot("webhook-secret-shown-once")

        deliver_a_stage(cast)
        assert len(server.received) == 1
        headers, body = server.received[0]
        assert Webhook(secret).verify(body, headers)["type"] == "stage.delivered"

        page.get_by_role("link", name=journey.t("See its deliveries")).click()
        row = page.locator("tr.td-delivery")
        expect(row).to_contain_text("stage.delivered")
        expect(row).to_contain_text(journey.t("Delivered"))
        expect(row.locator(".td-attempt")).to_have_count(1)
        assert secret not in page.content()
        journey.shot("webhook-deliveries")

        # The replay's task runs in the live server's process (with Redis configured it would
        # wait for a worker this test does not start).
        with tasks_in_process():
            with page.expect_navigation():
                row.get_by_role("button", name=journey.t("Replay")).click()
            expect(page.get_by_text(journey.t("The delivery is being sent again."))).to_be_visible()
            expect(page.locator("tr.td-delivery .td-attempt")).to_have_count(2)
        assert len(server.received) == 2
        assert WebhookAttempt.objects.filter(replay=True, status_code=204).count() == 1
        Webhook(secret).verify(server.received[1][1], server.received[1][0])
        journey.shot("webhook-replayed")
    finally:
        server.close()
