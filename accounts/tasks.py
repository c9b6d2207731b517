"""Thin Celery wrappers over the accounts services (ids in, never personal data)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from . import devices, password_reset


@shared_task(name="accounts.tasks.new_device_email")
def new_device_email(device_id: Any) -> bool:
    return devices.new_device_email_send(device_id)


@shared_task(name="accounts.tasks.password_reset_email")
def password_reset_email(user_id: Any) -> bool:
    return password_reset.password_reset_email_send(user_id)
