"""Thin Celery wrappers around the handover engine (ids in, the engine does the work)."""

from __future__ import annotations

from celery import shared_task

from . import engine


@shared_task(name="transfers.tasks.handover_run_stage", acks_late=True, reject_on_worker_lost=True)
def handover_run_stage(stage_id: str) -> str:
    """Run or resume one stage; idempotent, so a redelivered message changes nothing."""
    return engine.run_stage(stage_id)


@shared_task(name="transfers.tasks.sweep_stalled_stages")
def sweep_stalled_stages() -> int:
    """Beat task (maintenance queue): re-enqueue stages whose worker vanished or whose message
    never reached the broker."""
    return engine.sweep()
