"""Audit jobs: thin Celery wrappers around the chain verifier."""

from __future__ import annotations

import logging

from celery import shared_task

from .chain import verify_chain
from .choices import AuditAction
from .services import record_event

logger = logging.getLogger(__name__)


@shared_task(name="audits.tasks.verify_audit_chain", queue="maintenance")
def verify_audit_chain_task() -> str:
    """Daily (beat): verify the whole chain; a broken chain raises an alert event.

    The alert is itself appended to the chain (after the current head), so compliance sees it
    in the explorer and the dashboard, and it names the first broken event by position only.
    """
    result = verify_chain()
    if result.ok:
        logger.info("audit chain OK: %s events, head %s", result.count, result.head_seq)
        return f"OK {result.count} {result.head_seq} {result.head_mac}"
    logger.error("audit chain broken at event %s: %s", result.first_bad_seq, result.message)
    record_event(
        action=AuditAction.CHAIN_VERIFICATION_FAILED,
        object_type="audits.auditevent",
        object_id=result.first_bad_seq,
        details={
            "first_bad_seq": result.first_bad_seq,
            "problem": result.problem,
            "verified_events": result.count,
        },
    )
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


@shared_task(name="audits.tasks.access_review_remind", queue="maintenance")
def access_review_remind_task() -> int:
    """Beat: remind reviewers of campaigns due soon (at most one e-mail a day each)."""
    from .reviews import campaign_send_reminders

    return campaign_send_reminders()
