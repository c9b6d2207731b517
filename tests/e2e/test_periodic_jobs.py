"""The periodic jobs page as a compliance officer reaches it: from the compliance section's
tabs, after the scheduler ran the jobs by itself (one failing), in English and Chinese."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from tests.e2e.browser import screenshot, sign_in, use_language
from tests.factories import PASSWORD
from tests.transferdesk.test_periodic import SHORT
from transferdesk.periodic import PeriodicRun

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_the_officer_sees_which_jobs_ran_and_which_failed(
    cast, page: Page, live_server, console, settings, eager_tasks, lang
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_BEAT_SCHEDULE = {
        **settings.CELERY_BEAT_SCHEDULE,
        **SHORT,
        "audits-backup": {
            "task": "audits.tasks_lifecycle.backup",
            "schedule": timedelta(days=1),
        },
    }
    call_command("scheduler", for_seconds=2.5, tick=0.2)
    assert PeriodicRun.objects.filter(outcome="failed").exists()
    use_language(page, live_server.url, lang)
    sign_in(page, cast.compliance.username, PASSWORD)
    page.goto("/compliance/")
    with page.expect_navigation():
        page.locator(".td-subnav a[href='/jobs/periodic/']").click()
    expect(page.locator("table").first).to_be_visible()
    expect(page.get_by_text("ValueError: the disk is full").first).to_be_visible()
    expect(page.locator("tr.table-warning")).not_to_have_count(0)
    screenshot(page, "periodic-jobs")
    assert console.take() == []
