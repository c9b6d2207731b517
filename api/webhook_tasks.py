"""Celery tasks of the webhooks (queue maintenance, the default): ids only."""

from __future__ import annotations

from celery import shared_task

from . import webhooks


@shared_task(name="api.webhook_tasks.webhook_deliver")
def webhook_deliver(delivery_id: str, replay: bool = False) -> bool:
    return webhooks.deliver(delivery_id, replay=replay)


@shared_task(name="api.webhook_tasks.webhook_sweep")
def webhook_sweep() -> int:
    return webhooks.sweep()
