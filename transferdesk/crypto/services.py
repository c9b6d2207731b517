"""Writes of the crypto layer that carry a business meaning: destroying a data key."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction

from .models import DataKey

#: Reasons are codes or ticket references, so free text (and with it personal data) can never
#: reach the audit trail through this door.
_REASON_CODE = re.compile(r"^[A-Za-z0-9_.:#-]{1,64}$")


@transaction.atomic
def data_key_destroy(*, data_key: DataKey, actor: Any, reason: str) -> DataKey:
    """Crypto-shred: wipe the wrapped key (every value under it becomes unreadable at once,
    history rows and snapshots included) and record the destruction in the audit trail.

    ``reason`` is a short code or ticket reference (``"erasure_request"``, ``"deal_cancelled"``),
    never personal data. Destroying an already destroyed key is refused, so the trail holds
    one destruction per key.
    """
    from transferdesk.trail import AuditAction, record_event

    if not _REASON_CODE.match(reason):
        raise ValueError("reason must be a short code or ticket reference, not free text")
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
