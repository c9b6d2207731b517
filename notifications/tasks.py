"""Thin Celery wrappers over the notification services (ids in, never personal data)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from . import services


@shared_task(name="notifications.tasks.notification_email")
def notification_email(notification_id: Any) -> bool:
    return services.notification_email_send(notification_id)


@shared_task(name="notifications.tasks.digest_send")
def digest_send() -> int:
    return services.digest_send_all()
