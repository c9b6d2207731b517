"""Thin Celery wrappers for retention, backups and restore drills (queue ``maintenance``).

Arguments are ids only; each task re-fetches and calls one service. The beat schedule runs
``purge_expired`` daily, ``backup`` nightly and ``restore_drill`` weekly (settings).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.contrib.auth import get_user_model
from django.utils import translation

from accounts.languages import user_language

logger = logging.getLogger(__name__)


def _user(user_id: Any) -> Any:
    if user_id is None:
        return None
    return get_user_model().objects.filter(pk=user_id).first()


@shared_task(name="audits.tasks_lifecycle.purge_expired", queue="maintenance")
def purge_expired_task(job_id: str | None = None, user_id: int | None = None) -> str:
    """Run every confirmed retention policy; resumable (a rerun continues an interrupted run)."""
    from transferdesk.jobs import job_create

    from .retention import purge_expired

    if job_id is None:  # the daily beat run gets its job row too, so its progress shows
        job_id = str(job_create(kind="purge").pk)
    actor = _user(user_id)
    # Small runs' certificates are built inline: in the language of whoever pressed the button.
    with translation.override(user_language(actor)):
        outcomes = purge_expired(actor=actor, job_id=job_id)
    customers = sum(o.customers for o in outcomes)
    logger.info("purge_expired: %s policies, %s customers", len(outcomes), customers)
    return f"{len(outcomes)} {customers}"


@shared_task(name="audits.tasks_lifecycle.purge_policy", queue="maintenance")
def purge_policy_task(policy_id: str, job_id: str | None = None, user_id: int | None = None) -> str:
    """Run one confirmed policy now (the page's button), reporting into its job row."""
    from .models import RetentionPolicy
    from .retention import purge_policy

    policy = RetentionPolicy.objects.get(pk=policy_id)
    actor = _user(user_id)
    with translation.override(user_language(actor)):
        outcome = purge_policy(policy=policy, actor=actor, job_id=job_id)
    return f"{outcome.customers} {outcome.rows}"


@shared_task(name="audits.tasks_lifecycle.backup", queue="maintenance")
def backup_task(user_id: int | None = None) -> str:
    from .backups import backup_run

    run = backup_run(actor=_user(user_id))
    return str(run.pk)


@shared_task(name="audits.tasks_lifecycle.restore_drill", queue="maintenance")
def restore_drill_task(user_id: int | None = None, job_id: str | None = None) -> str:
    from transferdesk.jobs import job_running

    from .backups import restore_drill
    from .models.backups import RunStatus

    with job_running(job_id, total=1) as running:
        drill = restore_drill(actor=_user(user_id))
        if drill.status == RunStatus.SUCCEEDED:
            running.result = {"drill": str(drill.pk)}
        else:
            running.fail(drill.error or "restore drill failed")
    return f"{drill.status} {drill.pk}"


@shared_task(
    name="audits.tasks_lifecycle.certificate_for_run",
    queue="reports",
    acks_late=True,
    reject_on_worker_lost=True,
)
def certificate_for_run_task(run_id: str, job_id: str, user_id: int | None = None) -> str:
    """Build the destruction certificate of a large purge run, with progress in its job row,
    in the language of the user who asked (read from their row: only ids travel in the
    message), the site's default for the beat's runs. Idempotent: a redelivered task finds
    the certificate made and only closes the job."""
    from django.urls import reverse
    from django.utils.translation import gettext as _

    from transferdesk.jobs import job_running

    from .models import PurgeRun
    from .retention import certificate_for_run

    run = PurgeRun.objects.get(pk=run_id)
    actor = _user(user_id)
    # The failure reason too is for that user (the job page shows it as stored).
    with (
        translation.override(user_language(actor)),
        job_running(
            job_id, error=_("The certificate could not be built ({kind}); ask for it again.")
        ) as running,
    ):
        certificate = certificate_for_run(run=run, actor=actor, job_id=job_id)
        running.progress(certificate.key_count)
        running.result = {
            "certificate": str(certificate.pk),
            "download_url": reverse("lifecycle:certificate_pdf", args=[certificate.pk]),
        }
    return str(certificate.pk)
