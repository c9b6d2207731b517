"""Thin Celery wrappers for notices and the request register (ids in, services do the work).

Imported by ``transfers.tasks`` so that Celery's autodiscovery registers them; all run on the
default ``maintenance`` queue.
"""

from __future__ import annotations

from celery import shared_task

from . import notices, requests


@shared_task(
    name="transfers.notice_tasks.notice_campaign_send", acks_late=True, reject_on_worker_lost=True
)
def notice_campaign_send(campaign_id: str, job_id: str) -> dict[str, int]:
    """Send a campaign's pending notices; a redelivered message sends only what is pending."""
    return notices.campaign_run(campaign_id=campaign_id, job_id=job_id)


@shared_task(name="transfers.notice_tasks.requests_remind")
def requests_remind() -> int:
    """Beat task: remind officers of data-subject requests close to their legal deadline."""
    return requests.requests_remind()


@shared_task(name="transfers.notice_tasks.sweep_campaigns")
def sweep_campaigns() -> int:
    """Beat task: re-enqueue notice campaigns whose message was lost before a worker took it."""
    return notices.sweep_campaigns()


@shared_task(name="transfers.notice_tasks.followups_remind")
def followups_remind() -> int:
    """Beat task: tell buyers of follow-up tasks close to their deadline."""
    from . import portal_services

    return portal_services.followups_remind()
