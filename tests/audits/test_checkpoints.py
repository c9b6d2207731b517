"""A removed tail is caught by default: the chain heads that receipts, reports, backups and
earlier verifications recorded are checkpoints the chain must still hold (DESIGN.md 6)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from audits.backups import backup_run
from audits.checkpoints import known_checkpoints
from audits.models import ChainVerificationRun, ReportKind
from audits.reports.common import ReportParams
from audits.reports.service import report_request
from audits.tasks import verify_audit_chain_task
from customers.choices import Tier
from tests.transfers.conftest import make_customers, make_deal
from transferdesk.celery import app
from transferdesk.trail import AuditAction, AuditEvent, record_event
from transferdesk.trail.chain import verify_chain
from transfers import services
from transfers.choices import StageKind

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _in_process(django_capture_on_commit_callbacks):
    """Jobs run in-process after commit, as in the embedded default."""
    global _capture
    _capture = django_capture_on_commit_callbacks
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


def delivered_stage(cast):
    deal = make_deal(cast)
    make_customers(cast.seller, 3)
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name="Overview", kind=StageKind.PSEUDONYMISED,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    services.stage_submit(actor=cast.broker, stage=stage)
    with _capture(execute=True):
        services.stage_approve(actor=cast.compliance, stage=stage, note="Checked.")
    stage.refresh_from_db()
    return stage


def everyday_work(n=3):
    for i in range(n):
        record_event(action=AuditAction.EXPORT, details={"rows": i})


def verify():
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit_chain")
    assert failure.value.returncode == 1
    return str(failure.value)


def test_deleting_the_last_events_after_a_receipt_fails_naming_the_receipt_and_the_range(
    cast, tamper
):
    stage = delivered_stage(cast)
    receipt_seq = stage.manifest.chain_head_seq
    everyday_work()
    assert verify_chain(checkpoints=known_checkpoints()).ok  # sound so far

    tamper("DELETE FROM audits_auditevent WHERE seq >= %s", [receipt_seq - 1])

    message = verify()
    assert f"FAILED at event {receipt_seq - 1} (truncated)" in message
    assert "the receipt of stage 1 of deal D-1" in message
    assert f"events {receipt_seq - 1} to " in message


def test_deleting_every_event_after_a_report_fails_naming_the_report(cast, tamper):
    everyday_work()
    with _capture(execute=True):
        run = report_request(actor=cast.compliance, kind=ReportKind.ACCESS, params=ReportParams())
    run.refresh_from_db()
    assert run.chain_head_seq > 0

    tamper("DELETE FROM audits_auditevent", [])

    message = verify()
    assert "FAILED at event 1 (truncated)" in message
    assert "the report “Access report” issued" in message
    assert "the trail is empty" in message
    assert f"events 1 to {run.chain_head_seq} are missing" in message


def test_the_daily_job_records_a_failed_run_and_an_alert_after_the_tail_was_removed(cast, tamper):
    stage = delivered_stage(cast)
    receipt_seq = stage.manifest.chain_head_seq
    tamper("DELETE FROM audits_auditevent WHERE seq > %s", [receipt_seq - 2])

    assert verify_audit_chain_task.apply().get() == f"FAILED {receipt_seq - 1} truncated"

    run = ChainVerificationRun.objects.get()
    assert (run.trigger, run.status, run.problem) == ("daily", "failed", "truncated")
    assert run.params["checkpoint"]["source"] == "receipt"
    assert run.params["checkpoint"]["seq"] == receipt_seq
    alert = AuditEvent.objects.get(action=AuditAction.CHAIN_VERIFICATION_FAILED)
    assert alert.details["problem"] == "truncated"


def test_a_successful_daily_run_is_recorded_and_its_head_is_the_next_runs_checkpoint(chain, tamper):
    assert verify_audit_chain_task.apply().get().startswith("OK 6 6 ")
    first = ChainVerificationRun.objects.get()
    assert (first.status, first.events, first.head_seq, first.head_mac) == (
        "succeeded", 6, 6, chain[-1].mac
    )  # fmt: skip

    tamper("DELETE FROM audits_auditevent WHERE seq = 6", [])

    message = verify()
    assert "FAILED at event 6 (truncated)" in message
    assert "the verification of" in message


@pytest.mark.django_db(transaction=True)  # SQLite's online backup waits on an open transaction
def test_a_backup_manifest_records_the_head_and_it_is_a_checkpoint(chain, settings, tmp_path):
    settings.TRANSFERDESK_BACKUP_DIR = tmp_path / "backups"
    backup = backup_run()
    head = backup.manifest["chain_head"]
    assert head == {"seq": 6, "mac": chain[-1].mac}
    assert ("backup", 6) in [(c.source, c.seq) for c in known_checkpoints()]


def test_a_sound_chain_says_which_checkpoint_it_still_holds(cast):
    stage = delivered_stage(cast)
    everyday_work()
    out = io.StringIO()
    call_command("verify_audit_chain", stdout=out)
    assert out.getvalue().startswith("verify_audit_chain: OK ")
    assert "holds the receipt of stage 1 of deal D-1" in out.getvalue()
    assert f"(event {stage.manifest.chain_head_seq})" in out.getvalue()
