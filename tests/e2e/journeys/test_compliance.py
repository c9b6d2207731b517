"""The compliance officer's day, in the browser only: approve the transfer notices a broker
prepared (the approvals queue lists them); four eyes on stages: the broker submits a stage, the
officer approves it, while the stage she submitted herself (she is also a broker of the deal)
offers her no approval; she watches the approved stage run to delivery, verifies the audit
chain and pulls the deal's audit report (PDF) and the audit trail (CSV) through the browser.

The stage runs where the jobs run: in-process on SQLite (``make test``), and on PostgreSQL
with Redis in a real Celery worker (the ``live_worker`` run, which CI must not skip) that
starts only once the stage is approved, so the page is seen polling its progress bar (htmx)
from "not started" to delivered without a reload.

Set up outside the browser, because other journeys own those pages: the cast, the seller's
customers, the deal, the broker's notices and stage drafts, and the stage the officer
submitted as the deal's second broker. Runs in English and in Chinese, a screenshot per step
in ``var/screenshots/journeys/``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.choices import Role
from audits.models import ChainVerificationRun, ReportRun
from customers.choices import Tier
from tests.audits.reporting import pdf_text
from tests.e2e.browser import sign_in, sign_out, use_language
from tests.e2e.conftest import ConsoleWatch
from tests.e2e.journeys.journey import LANGUAGES, Journey
from tests.factories import PASSWORD, Cast
from tests.support.worker import LiveWorker
from tests.transfers.conftest import make_customers, make_deal
from transferdesk.trail import AuditAction, AuditEvent
from transfers import notices, services
from transfers.choices import AssignmentRole, StageKind, StageStatus
from transfers.models import HandoverStage, StageApproval
from transfers.notice_models import CampaignStatus, NoticeCampaign

pytestmark = pytest.mark.browser

CUSTOMERS = 12


@pytest.fixture(
    params=[
        pytest.param("in-process"),
        pytest.param("live-worker", marks=pytest.mark.live_worker),
    ]
)
def worker(request: pytest.FixtureRequest, transactional_db: None) -> Iterator[LiveWorker | None]:
    """Where the approved stage runs: ``None`` for in-process jobs, else a real worker that the
    journey starts after the approval (its queue emptied first, so only this run's jobs)."""
    if request.param == "in-process":
        if settings.IS_POSTGRES and settings.REDIS_URL:
            pytest.skip("with PostgreSQL and Redis the journey runs with a live worker")
        yield None
        return
    live = LiveWorker()
    live.purge()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def deal_to_review(cast: Cast) -> dict:
    """A deal with the broker's notices prepared and a pseudonymised stage in draft, and an
    aggregate stage submitted by the compliance officer, who is also a broker of the deal."""
    make_customers(cast.seller, CUSTOMERS)
    deal = make_deal(cast)
    cast.compliance.groups.add(Group.objects.get(name=Role.BROKER))
    services.deal_assign(
        actor=cast.broker, deal=deal, user=cast.compliance, role=AssignmentRole.BROKER
    )
    campaign = notices.campaign_prepare(
        actor=cast.broker, deal=deal, objection_deadline=timezone.now() + timedelta(days=30)
    )
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name="Overview", kind=StageKind.PSEUDONYMISED,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    own = services.stage_create(
        actor=cast.compliance, deal=deal, name="Book statistics", kind=StageKind.AGGREGATE,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    services.stage_submit(actor=cast.compliance, stage=own)
    return {"deal": deal, "campaign": campaign, "stage": stage, "own": own}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_compliance_approves_notices_and_stages_watches_the_run_verifies_the_chain_and_pulls_reports(  # noqa: E501
    page: Page,
    cast: Cast,
    deal_to_review: dict,
    worker: LiveWorker | None,
    live_server: LiveServer,
    console: ConsoleWatch,
    lang: str,
    tmp_path: Path,
) -> None:
    deal, stage, own = deal_to_review["deal"], deal_to_review["stage"], deal_to_review["own"]
    campaign = deal_to_review["campaign"]
    use_language(page, live_server.url, lang)
    j = Journey(page, console, lang, "compliance")
    t = j.t

    # --- the broker submits the stage he planned -----------------------------------------
    sign_in(page, cast.broker.username, PASSWORD)
    page.get_by_role("link", name=deal.reference).click()
    page.get_by_role("link", name="Overview").click()
    with page.expect_navigation():
        page.get_by_role("button", name=t("Submit for approval")).click()
    expect(page.get_by_text(t("Submitted for approval by a compliance officer."))).to_be_visible()
    j.shot("broker-submits")
    assert HandoverStage.objects.get(pk=stage.pk).submitted_by == cast.broker
    sign_out(page)

    # --- the approvals queue: the broker's notices and stage, and her own stage ----------
    sign_in(page, cast.compliance.username, PASSWORD)
    page.get_by_role("link", name=t("Approvals"), exact=True).click()
    stage_row = page.get_by_role("row").filter(has_text="Overview")
    own_row = page.get_by_role("row").filter(has_text="Book statistics")
    notice_row = page.get_by_role("row").filter(has_text=deal.title)
    expect(stage_row.get_by_role("link", name=t("Review"))).to_be_visible()
    expect(own_row).to_contain_text(t("Yours: another officer decides"))
    expect(own_row.get_by_role("link", name=t("Review"))).to_have_count(0)
    expect(notice_row).to_contain_text(cast.broker.display_name)
    j.shot("approvals-queue")

    # --- four eyes on the notices: approve what the broker prepared ----------------------
    notice_row.get_by_role("link", name=t("Review")).click()
    expect(page.get_by_role("heading", name=t("Transfer notices"))).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("button", name=t("Approve"), exact=True).click()
    expect(page.get_by_text(t("Notices approved."))).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        j.text(CampaignStatus.APPROVED.label)
    )
    j.shot("notices-approved")
    campaign = NoticeCampaign.objects.get(pk=campaign.pk)
    assert (campaign.status, campaign.approved_by) == (CampaignStatus.APPROVED, cast.compliance)
    assert AuditEvent.objects.filter(
        action=AuditAction.UPDATE, actor=cast.compliance, object_id=str(campaign.pk),
        details__step="approved",
    ).exists()  # fmt: skip

    # --- her own stage: no approval offered, and the page says why -----------------------
    page.get_by_role("link", name=t("Approvals"), exact=True).click()
    own_row.get_by_role("link", name="Book statistics").click()
    expect(
        page.get_by_text(t("You submitted this stage; another compliance officer must approve it."))
    ).to_be_visible()
    expect(page.get_by_role("link", name=t("Approve"), exact=True)).to_have_count(0)
    j.shot("own-stage-not-approvable")

    # --- approve the broker's stage -------------------------------------------------------
    page.get_by_role("link", name=t("Approvals"), exact=True).click()
    stage_row.get_by_role("link", name=t("Review")).click()
    expect(page.get_by_role("heading", name=t("Approve stage"), exact=False)).to_be_visible()
    page.get_by_label(j.label("Approval note")).fill("预览已核对 Preview checked.")
    j.shot("approve-stage")
    with page.expect_navigation():
        page.get_by_role("button", name=t("Approve"), exact=True).click()
    expect(page.get_by_text(t("Stage approved; the handover starts now."))).to_be_visible()
    approval = StageApproval.objects.get(stage=stage)
    assert (approval.requested_by, approval.approved_by) == (cast.broker, cast.compliance)
    assert approval.customers == CUSTOMERS and approval.seal

    # --- watch it run ------------------------------------------------------------------
    progress = page.get_by_role("progressbar", name=t("Handover progress"))
    if worker is not None:
        # Nothing consumes the queue yet: the page shows the stage waiting, and polls (htmx)
        # until the poll that finds it delivered reloads the page.
        bar = page.locator(".td-progress")
        expect(progress).to_have_attribute("value", "0")
        expect(bar).to_contain_text(j.text(StageStatus.APPROVED.label))
        expect(bar).to_contain_text(t("%(done)s of %(total)s") % {"done": 0, "total": CUSTOMERS})
        j.shot("stage-waiting-for-a-worker")
        polls: list[str] = []
        page.on("response", lambda r: "/progress/" in r.url and polls.append(r.url))
        with page.expect_response(
            lambda r: "/progress/" in r.url and r.headers.get("hx-refresh") == "true",
            timeout=90_000,
        ):
            worker.start(purge=False)
        assert polls, "the progress bar was polled"
    expect(progress).to_have_attribute("value", str(CUSTOMERS))
    expect(page.locator(".td-progress")).to_contain_text(j.text(StageStatus.DELIVERED.label))
    expect(page.get_by_text(t("Signed manifest"))).to_be_visible()
    j.shot("stage-delivered")
    stage = HandoverStage.objects.get(pk=stage.pk)
    assert (stage.status, stage.done, stage.approved_by) == (
        StageStatus.DELIVERED, CUSTOMERS, cast.compliance,
    )  # fmt: skip
    assert stage.items.count() == CUSTOMERS and stage.manifest.item_count == CUSTOMERS
    own = HandoverStage.objects.get(pk=own.pk)
    assert own.status == StageStatus.SUBMITTED and not own.approvals.exists()

    # --- verify the audit chain ----------------------------------------------------------
    page.get_by_role("link", name=t("Compliance"), exact=True).click()
    page.get_by_role("link", name=t("Chain verification"), exact=True).click()
    expect(page.get_by_role("heading", name=t("Audit chain verification"))).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("button", name=t("Verify the chain now")).click()
    intact = page.get_by_role("status").filter(has_text=t("The audit chain is intact."))
    expect(intact).to_be_visible(timeout=60_000)
    j.shot("chain-verified")
    run = ChainVerificationRun.objects.get(trigger="page")
    assert (run.status, run.started_by) == ("succeeded", cast.compliance)
    assert run.events >= AuditEvent.objects.filter(seq__lte=run.head_seq).count() > 0
    expect(intact).to_contain_text(f"{run.head_seq}:{run.head_mac}")
    expect(page.get_by_role("row").filter(has_text=cast.compliance.username)).to_have_count(1)

    # --- the deal's audit report (PDF) -----------------------------------------------------
    page.get_by_role("link", name=t("Reports"), exact=True).click()
    page.get_by_label(j.label("Report")).select_option("deal_audit")
    page.get_by_label(j.label("Deal reference")).fill(deal.reference)
    j.shot("report-form")
    with page.expect_navigation():
        page.get_by_role("button", name=t("Generate")).click()
    download_link = page.get_by_role("link", name=t("Download"), exact=True)
    expect(download_link).to_be_visible(timeout=60_000)
    j.shot("report-ready")
    with page.expect_download() as download:
        download_link.click()
    pdf = tmp_path / download.value.suggested_filename
    download.value.save_as(pdf)
    assert pdf.name.startswith("deal_audit-") and pdf.suffix == ".pdf"
    report = ReportRun.objects.get(kind="deal_audit", requested_by=cast.compliance)
    assert report.params["deal"] == deal.reference and report.sha256
    _reader, text = pdf_text(pdf.read_bytes())
    assert deal.reference in text and deal.title in text
    assert AuditEvent.objects.filter(
        action=AuditAction.EXPORT, actor=cast.compliance, object_id=str(report.pk)
    ).exists()

    # --- the audit trail (CSV) -------------------------------------------------------------
    page.get_by_role("link", name=t("Audit trail"), exact=True).click()
    j.shot("audit-trail")
    with page.expect_download() as download:
        page.get_by_role("link", name=t("Export CSV")).click()
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header[0] == t("Sequence")
    approved = [r for r in body if str(stage.pk) in r]
    assert approved, "the stage's events are in the exported trail"
    assert AuditEvent.objects.filter(
        action=AuditAction.EXPORT, actor=cast.compliance, object_type="audits.auditevent"
    ).exists()
