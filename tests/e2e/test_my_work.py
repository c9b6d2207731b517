"""My work in the browser (issue 17): each role signs in, finds the top of what waits on them
on the page they land on, opens it and arrives where the work is done; then their "my work"
page, screenshotted in English and Chinese (``var/screenshots/my-work-<role>-<lang>.png``).

The waiting work is made through the services: a broker's draft, a stage submitted for
approval, a stage delivered (run in-process) whose receipt the buyer has not acknowledged, and
a periodic job whose last run failed.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from audits.reviews import campaign_start
from customers.choices import Tier
from customers.models import ImportUpload
from customers.services import import_upload_create, organization_grant
from tests.e2e.browser import screenshot, sign_in, sign_out, use_language
from tests.factories import PASSWORD
from tests.transfers.conftest import make_customers, make_deal
from transferdesk.periodic import PeriodicRun, RunOutcome
from transfers import portal_services, requests, services
from transfers.choices import StageKind
from transfers.notice_models import DataSubjectRequest

pytestmark = pytest.mark.browser

#: Per role: who signs in, the top row's words in each language, and where its link leads.
ROLES = {
    "broker": ("broker", {"en": "Stage to finish and submit", "zh-hans": "待完成并提交的阶段"},
               r"/deals/stages/[0-9a-f-]+/$"),
    "compliance": ("compliance", {"en": "Stage awaiting your approval",
                                  "zh-hans": "待您审批的阶段"},
                   r"/deals/stages/[0-9a-f-]+/approve/$"),
    "buyer": ("buyer", {"en": "Receipt to acknowledge", "zh-hans": "待确认的接收回执"},
              r"/portal/stages/[0-9a-f-]+/acknowledge/$"),
    "admin": ("admin", {"en": "Periodic job failed on its last run",
                        "zh-hans": "定期任务上次运行失败"},
              r"/jobs/periodic/$"),
}  # fmt: skip


@pytest.fixture
def waiting(cast, settings, eager_tasks):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    make_customers(cast.seller, 6)
    deal = make_deal(cast)

    def stage(name):
        return services.stage_create(
            actor=cast.broker, deal=deal, name=name, kind=StageKind.PSEUDONYMISED,
            tier_scope=[Tier.GENERAL],
        )  # fmt: skip

    delivered = stage("Overview")
    services.stage_submit(actor=cast.broker, stage=delivered)
    services.stage_approve(actor=cast.compliance, stage=delivered, note="Checked.")
    delivered.refresh_from_db()
    assert delivered.status == "delivered"
    nda = services.nda_publish(actor=cast.broker, deal=deal, text="Keep it confidential.")
    services.nda_accept(actor=cast.buyer, nda=nda)
    services.stage_submit(actor=cast.broker, stage=stage("Second wave"))
    stage("Later")
    task = next(iter(settings.CELERY_BEAT_SCHEDULE.values()))["task"]
    PeriodicRun.objects.create(task=task, outcome=RunOutcome.FAILED, message="ValueError")
    _more_rows(cast, deal, delivered)
    return cast


def _more_rows(cast, deal, delivered):
    """Dated and overdue rows below the top one, so the screenshots show the whole order."""
    past = timezone.now() - timedelta(days=2)
    organization_grant(
        actor=cast.admin, user=cast.broker, organization=cast.seller, permission="manage_customers"
    )
    upload = import_upload_create(actor=cast.broker, organization=cast.seller, data=b"ref\nA\n")
    ImportUpload.objects.filter(pk=upload.pk).update(created_at=past)
    customer = deal.seller.customers.order_by("reference").first()
    dsr = requests.request_create(customer=customer, deal=deal, kind="access", source="email")
    DataSubjectRequest.objects.filter(pk=dsr.pk).update(due_at=past)
    week = timezone.now() + timedelta(days=7)
    campaign_start(
        actor=cast.compliance, name="Year-end review", deadline=week, reviewer=cast.compliance
    )
    item = delivered.items.order_by("pk").first()
    portal_services.followup_create(item=item, kind="update", reason="correction")


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_each_role_lands_on_the_top_of_its_work_and_opens_it(
    page: Page, live_server, console, waiting, lang
):
    use_language(page, live_server.url, lang)
    for role, (username, words, target) in ROLES.items():
        sign_in(page, username, PASSWORD)
        top = page.locator("#td-my-work-title")
        expect(top).to_be_visible()  # the landing page fetched the fragment
        link = page.get_by_role("link", name=words[lang], exact=True).first
        expect(link).to_be_visible()
        screenshot(page, f"my-work-landing-{role}")
        with page.expect_navigation():
            link.click()
        expect(page).to_have_url(re.compile(target))

        page.goto("/work/")
        expect(page.get_by_role("link", name=words[lang], exact=True).first).to_be_visible()
        screenshot(page, f"my-work-{role}")
        sign_out(page)
    assert console.take() == []
