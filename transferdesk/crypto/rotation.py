"""Master-key rotation: re-wrap data keys under the active master key.

Only the 32-byte data keys are re-encrypted; customer data is untouched, so rotation costs one
small row update per customer whatever the size of the records. Work goes in batches, each
committed on its own, and selects only keys still under another master key: an interrupted run
resumes where it stopped, and a second run finds nothing to do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from .keyring import get_keyring
from .models import DataKey


@dataclass
class RotationResult:
    active_id: str
    rewrapped: int = 0
    already_current: int = 0
    destroyed: int = 0
    remaining: int = 0


def rotate_data_keys(
    *,
    batch_size: int = 500,
    on_batch: Callable[[RotationResult, int], None] | None = None,
    actor: object = None,
    limit: int | None = None,
) -> RotationResult:
    """Re-wrap every live data key not under the active master key (at most ``limit`` of
    them, for a run inside a web request: ``remaining`` then says what is left).

    ``on_batch(result, remaining)`` is called after each committed batch (progress lines). A
    data key under a master key missing from the keyring raises ``MissingMasterKey`` naming the
    key id; batches committed before it stay done.
    """
    keyring = get_keyring()
    result = RotationResult(active_id=keyring.active_id)
    pending = DataKey.objects.needing_rotation(keyring.active_id)
    while limit is None or result.rewrapped < limit:
        size = batch_size if limit is None else min(batch_size, limit - result.rewrapped)
        with transaction.atomic():
            batch = list(pending.select_for_update().order_by("pk")[:size])
            if not batch:
                break
            for key in batch:
                key.rewrap(keyring)
            DataKey.objects.bulk_update(batch, ["master_key_id", "wrapped_key", "rotated_at"])
            result.rewrapped += len(batch)
        if on_batch is not None:
            on_batch(result, pending.count())
    result.already_current = (
        DataKey.objects.live().filter(master_key_id=keyring.active_id).count() - result.rewrapped
    )
    result.destroyed = DataKey.objects.filter(destroyed_at__isnull=False).count()
    result.remaining = pending.count()
    if result.rewrapped:
        _record(result, actor)
    return result


def _record(result: RotationResult, actor: object) -> None:
    from transferdesk.trail import AuditAction, record_event

    with transaction.atomic():
        record_event(
            action=AuditAction.KEY_ROTATED,
            actor=actor,
            object_type="transferdesk.datakey",
            details={"active_key_id": result.active_id, "rewrapped": result.rewrapped},
        )
