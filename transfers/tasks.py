"""Thin Celery wrappers around the handover engine (ids in, the engine does the work)."""

from __future__ import annotations

from celery import shared_task

from . import engine


@shared_task(name="transfers.tasks.handover_run_stage", acks_late=True, reject_on_worker_lost=True)
def handover_run_stage(stage_id: str) -> str:
    """Claim or resume one stage and fan out its partitions; idempotent, so a redelivered
    message changes nothing."""
    return engine.run_stage(stage_id)


@shared_task(name="transfers.tasks.handover_run_part", acks_late=True, reject_on_worker_lost=True)
def handover_run_part(stage_id: str, lease: str, index: int, parts: int) -> str:
    """One customer-id range of a running stage (``lease`` is the claim's random hex id)."""
    return engine.run_part(stage_id, lease, index, parts)


@shared_task(name="transfers.tasks.sweep_stalled_stages")
def sweep_stalled_stages() -> int:
    """Beat task (maintenance queue): re-enqueue stages whose worker vanished or whose message
    never reached the broker."""
    return engine.sweep()


from . import notice_tasks  # noqa: E402,F401 - registers the notice tasks with Celery
