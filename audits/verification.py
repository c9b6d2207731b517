"""Verifying the audit chain as a recorded run: from the daily task, the compliance page or the
command, always against the checkpoints already handed out (``audits.checkpoints``).

Each run is a ``ChainVerificationRun`` row, successes included, so compliance can show when the
chain was last proved whole; the head a successful run reached becomes a checkpoint for the
next one. A broken chain also appends a ``chain_verification_failed`` event, which the
dashboard shows.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from notifications.choices import Kind
from notifications.recipients import officers_and_admins
from notifications.services import notify
from transferdesk import jobs
from transferdesk.trail import AuditAction, AuditEvent, record_event
from transferdesk.trail.chain import ChainVerification, verify_chain

from .checkpoints import known_checkpoints
from .models import ChainVerificationRun, VerificationTrigger
from .models.backups import RunStatus

logger = logging.getLogger(__name__)

#: The kind of the job a verification started on the page reports its progress into.
JOB_KIND = "audit_chain_verify"
#: Events between two progress updates of a run started on the page.
PROGRESS_EVERY = 2_000


@transaction.atomic(durable=True)
def chain_verification_request(*, actor: Any) -> ChainVerificationRun:
    """A compliance officer asks for a verification: its row and job now, the walk in a worker
    once this commits."""
    total = AuditEvent.objects.aggregate(head=Max("seq"))["head"] or 0
    job = jobs.job_create(kind=JOB_KIND, actor=actor, total=total)
    run = ChainVerificationRun.objects.create(
        trigger=VerificationTrigger.PAGE, started_by=actor, job=job
    )
    run_id, job_id = run.pk, job.pk
    transaction.on_commit(lambda: _enqueue(run_id, job_id))
    return run


def _enqueue(run_id: uuid.UUID, job_id: uuid.UUID) -> None:
    """Bounded (``jobs.enqueue``): a broker that does not answer fails the job and the run with
    a reason on the page; tomorrow's daily run verifies anyway."""
    if not jobs.enqueue("audits.tasks.verify_audit_chain", run_id, fail_job=job_id):
        error = jobs.Job.objects.values_list("error", flat=True).get(pk=job_id)
        ChainVerificationRun.objects.filter(pk=run_id, finished_at__isnull=True).update(
            status=RunStatus.FAILED, finished_at=timezone.now(), error=error
        )


def chain_verification_start(*, trigger: str, actor: Any = None) -> ChainVerificationRun:
    """The row of a run that starts at once (the daily task, the command)."""
    return ChainVerificationRun.objects.create(trigger=trigger, started_by=actor)


def chain_verification_run(
    *, run_id: uuid.UUID | str, chunk_size: int = 10_000, jobs_count: int = 1
) -> tuple[ChainVerificationRun, ChainVerification]:
    """Walk the chain against every known checkpoint and record the outcome on the run.

    Checkpoints are collected before the walk starts reading, so each of them names an event
    that was committed before the walk began. Idempotent for a redelivered message: a run that
    already finished is returned as it is.
    """
    run = ChainVerificationRun.objects.select_related("job").get(pk=run_id)
    if run.finished_at is not None:
        return run, _as_result(run)
    job_id = run.job_id
    with jobs.job_running(job_id) as running:
        try:
            checkpoints = known_checkpoints()
            result = verify_chain(
                chunk_size=min(chunk_size, PROGRESS_EVERY) if job_id else chunk_size,
                checkpoints=checkpoints,
                jobs=jobs_count,
                progress=running.progress,
            )
        except Exception as exc:
            ChainVerificationRun.objects.filter(pk=run.pk).update(
                status=RunStatus.FAILED, finished_at=timezone.now(), error=str(exc)[:2000]
            )
            raise
        with transaction.atomic():
            _record_outcome(run, result)
        running.result = {"ok": result.ok, "events": result.count, "head_seq": result.head_seq}
    run.refresh_from_db()
    return run, result


def _record_outcome(run: ChainVerificationRun, result: ChainVerification) -> None:
    """Store the run's outcome; a broken chain also appends its alert event and tells every
    officer and administrator, in the same transaction."""
    ChainVerificationRun.objects.filter(pk=run.pk).update(
        status=RunStatus.SUCCEEDED if result.ok else RunStatus.FAILED,
        finished_at=timezone.now(),
        events=result.count,
        head_seq=result.head_seq,
        head_mac=result.head_mac,
        first_bad_seq=result.first_bad_seq,
        problem=result.problem,
        params=dict(result.params),
        checkpoints=[c.as_params() for c in result.checkpoints_checked],
    )
    if result.ok:
        logger.info(
            "audit chain OK: %s events, head %s, %s checkpoints",
            result.count,
            result.head_seq,
            len(result.checkpoints_checked),
        )
    else:
        logger.error("audit chain broken at event %s: %s", result.first_bad_seq, result.message)
        # The alert is itself appended to the chain (after the current head), so compliance
        # sees it in the explorer and the dashboard; it names the broken event by position.
        record_event(
            action=AuditAction.CHAIN_VERIFICATION_FAILED,
            actor=run.started_by,
            object_type="audits.auditevent",
            object_id=result.first_bad_seq,
            details={
                "first_bad_seq": result.first_bad_seq,
                "problem": result.problem,
                "verified_events": result.count,
            },
        )
        notify(
            recipients=officers_and_admins(),
            kind=Kind.CHAIN_FAILED,
            url=reverse("audits:chain_run", args=[run.pk]),
        )


def _as_result(run: ChainVerificationRun) -> ChainVerification:
    from transferdesk.trail.chain import problem_message

    return ChainVerification(
        ok=run.status == RunStatus.SUCCEEDED,
        count=run.events,
        head_seq=run.head_seq,
        head_mac=run.head_mac,
        first_bad_seq=run.first_bad_seq,
        problem=run.problem,
        message=problem_message(run.problem, run.params) if run.problem else run.error,
        params=run.params,
    )


def run_message(run: ChainVerificationRun) -> str:
    """What a run found, in words, in the active language."""
    from transferdesk.trail.chain import problem_message

    if run.problem:
        return problem_message(run.problem, run.params)
    return run.error
