"""Writes of the crypto layer that carry a business meaning: destroying a data key."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from .models import DataKey


@transaction.atomic
def data_key_destroy(*, data_key: DataKey, actor: Any, reason: str) -> DataKey:
    """Crypto-shred: wipe the wrapped key (every value under it becomes unreadable at once,
    history rows and snapshots included) and record the destruction in the audit trail.

    ``reason`` is a short code or ticket reference (``"erasure_request"``, ``"deal_cancelled"``),
    never personal data. Destroying an already destroyed key is refused, so the trail holds
    one destruction per key.
    """
    from audits.choices import AuditAction
    from audits.services import record_event

    locked = DataKey.objects.select_for_update().get(pk=data_key.pk)
    if locked.is_destroyed:
        raise ValueError(f"data key {locked.pk} was already destroyed on {locked.destroyed_at}")
    locked.destroy()
    record_event(
        action=AuditAction.KEY_DESTROYED,
        actor=actor,
        obj=locked,
        details={"purpose": locked.purpose, "reason": reason},
    )
    data_key.wrapped_key = None
    data_key.destroyed_at = locked.destroyed_at
    data_key.__dict__.pop("_unwrapped", None)
    return locked
