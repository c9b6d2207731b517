"""Audit jobs: thin Celery wrappers around the chain verifier."""

from __future__ import annotations

import logging

from celery import shared_task

from .models import VerificationTrigger
from .verification import chain_verification_run, chain_verification_start

logger = logging.getLogger(__name__)


@shared_task(name="audits.tasks.verify_audit_chain", queue="maintenance")
def verify_audit_chain_task(run_id: str | None = None) -> str:
    """Daily (beat, no argument) or asked for on the compliance page (a run id): verify the
    whole chain against every known checkpoint and record the run, successes included.

    A broken chain also appends an alert event (``audits.verification``), so compliance sees
    it in the explorer and the dashboard.
    """
    if run_id is None:
        run_id = str(chain_verification_start(trigger=VerificationTrigger.DAILY).pk)
    _run, result = chain_verification_run(run_id=run_id)
    if result.ok:
        return f"OK {result.count} {result.head_seq} {result.head_mac}"
    return f"FAILED {result.first_bad_seq} {result.problem}"


@shared_task(
    name="audits.tasks.report_generate",
    queue="reports",
    acks_late=True,
    reject_on_worker_lost=True,
)
def report_generate_task(run_id: str) -> str:
    """Render one requested report (a ``ReportRun`` id); progress goes to its job row."""
    from .reports.service import report_generate

    run = report_generate(run_id=run_id)
    return f"{run.kind} {run.pk} {run.size}"


@shared_task(name="audits.tasks.access_review_expire", queue="maintenance")
def access_review_expire_task() -> int:
    """Beat: close campaigns past their deadline, revoking every grant nobody kept."""
    from .reviews import campaign_expire_due

    return campaign_expire_due()


@shared_task(name="audits.tasks.incident_clock", queue="maintenance")
def incident_clock_task() -> int:
    """Beat: tell officers when an incident's deadline is half and 90 % gone."""
    from .incidents import incidents_clock_notify

    return incidents_clock_notify()


@shared_task(name="audits.tasks.access_review_remind", queue="maintenance")
def access_review_remind_task() -> int:
    """Beat: remind reviewers of campaigns due soon (at most one e-mail a day each)."""
    from .reviews import campaign_send_reminders

    return campaign_send_reminders()
