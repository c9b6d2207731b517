"""The shared partials (table, pagination, progress, confirmation, messages, empty state) on one
page, under the real Content-Security-Policy, so later pages inherit components that look right.

No view of the product shows all of them yet, so the page is rendered here with the project's
templates and served to the browser on the live server's origin by Playwright.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.contrib.messages import constants
from django.contrib.messages.storage.base import Message
from django.core.paginator import Paginator
from django.template import engines
from django.test import RequestFactory
from playwright.sync_api import Page, Route, expect

from accounts.models import User
from tests.e2e.browser import screenshot, use_language
from tests.e2e.conftest import ConsoleWatch
from tests.factories import Cast

pytestmark = pytest.mark.browser

GALLERY = Path(__file__).with_name("component_gallery.html")


def _csp_header() -> str:
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def _render(user: User, lang: str) -> str:
    from django.utils import translation

    request = RequestFactory().get("/components/", headers={"accept-language": lang})
    request.user = user
    request.resolver_match = SimpleNamespace(view_name="transfers:deal_list")
    rows = [
        [f"Deal {n:03d}", "Meridian → Northwind", f"{n % 3 + 1} / 3", "2026-11-22"]
        for n in range(1, 48)
    ]
    with translation.override(lang):
        context = {
            "columns": ["Deal", "Parties", "Stages", "Updated"],
            "page_obj": Paginator(rows, 8).page(3),
            "stats": [("Deals", 3), ("Customers", "12,480"), ("Stages", 7), ("Open requests", 2)],
            "progress_label": "Stage 2 · pseudonymised",
            "confirm_title": "Cancel this stage?",
            "confirm_message": "Nothing has been delivered yet. The buyer will not see it.",
            "confirm_button": "Cancel stage",
            # Finished as far as polling goes, so htmx does not ask the server for them.
            "job_running": SimpleNamespace(
                id=uuid.uuid4(),
                is_finished=True,
                status="running",
                done=1840,
                total=5000,
                percent=36,
                seconds_left=42,
                error="",
                result={},
            ),
            "job_failed": SimpleNamespace(
                id=uuid.uuid4(),
                is_finished=True,
                status="failed",
                done=0,
                total=0,
                percent=0,
                seconds_left=None,
                error="Row 14, column email: not a valid address.",
                result={},
            ),
            "messages": [
                Message(constants.SUCCESS, "Stage 2 was approved."),
                Message(constants.ERROR, "Row 14, column email: not a valid address."),
            ],
        }
        return engines["django"].from_string(GALLERY.read_text()).render(context, request)


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_shared_components_render_cleanly_under_the_csp(
    cast: Cast, page: Page, live_server, console: ConsoleWatch, lang: str
) -> None:
    use_language(page, live_server.url, lang)
    html = _render(cast.broker, lang)

    def serve(route: Route) -> None:
        route.fulfill(
            status=200,
            content_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": _csp_header()},
            body=html,
        )

    page.route(f"{live_server.url}/components/", serve)
    page.goto("/components/")

    expect(page.locator(".td-table-card tbody tr")).to_have_count(8)
    expect(page.locator(".td-pagination .page-item.active")).to_have_text("3")
    expect(page.locator("progress.td-progress-bar").first).to_have_attribute("value", "37")
    expect(page.locator(".td-job .alert-danger")).to_contain_text("Row 14")
    expect(page.locator(".alert-success")).to_contain_text("Stage 2 was approved.")
    screenshot(page, "components")
    assert console.take() == []


def test_job_progress_polls_and_swaps_in_place_under_the_csp(
    cast: Cast, page: Page, live_server, console: ConsoleWatch
) -> None:
    """htmx (as configured by the base layout) replaces a running job's bar with the server's
    answer without tripping the policy: no inline styles, no eval."""
    job_id = uuid.uuid4()

    def job(**state: object) -> SimpleNamespace:
        base = {"id": job_id, "done": 0, "total": 10, "percent": 0, "seconds_left": None}
        return SimpleNamespace(**{**base, "error": "", "result": {}, **state})

    def html(template: str, **context: object) -> str:
        return engines["django"].from_string(template).render(context)

    shell = html(
        '{% extends "base.html" %}{% block content %}'
        '{% include "partials/job_progress.html" %}{% endblock %}',
        job=job(is_finished=False, status="running", done=4, percent=40),
    )
    finished = html(
        '{% include "partials/job_progress.html" %}',
        job=job(is_finished=True, status="succeeded", done=10, percent=100),
    )
    csp = {"Content-Security-Policy": _csp_header()}
    page.route(
        f"{live_server.url}/job-demo/",
        lambda route: route.fulfill(content_type="text/html", headers=csp, body=shell),
    )
    page.route(
        f"{live_server.url}/jobs/{job_id}/progress",
        lambda route: route.fulfill(content_type="text/html", headers=csp, body=finished),
    )

    page.goto("/job-demo/")
    expect(page.locator(f"#job-{job_id}")).to_contain_text("Running")

    expect(page.locator(f"#job-{job_id}")).to_contain_text("Finished", timeout=6000)
    expect(page.locator(f"#job-{job_id} progress")).to_have_attribute("value", "100")
    assert console.take() == []
