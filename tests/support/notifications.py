"""Helpers of the notification tests: who was told, and what each person's mailbox holds."""

from __future__ import annotations

from typing import Any

from django.core import mail

from notifications.models import Notification


def told(kind: str) -> set[str]:
    """Usernames of everyone with a notification of ``kind``."""
    return set(Notification.objects.filter(kind=kind).values_list("recipient__username", flat=True))


def mails_to(user: Any) -> list[Any]:
    return [m for m in mail.outbox if user.email in m.to]
