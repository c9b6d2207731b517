"""Project-wide maintenance tasks."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger(__name__)


@shared_task(name="transferdesk.tasks.heartbeat")
def heartbeat() -> str:
    """Proves beat and a worker are alive: records the time of the last beat-driven run."""
    now = timezone.now().isoformat()
    cache.set("transferdesk:heartbeat", now, timeout=None)
    logger.info("heartbeat")
    return now
