"""Master-key rotation: re-wrap data keys under the active master key.

Only the 32-byte data keys are re-encrypted; customer data is untouched, so rotation costs one
small row update per customer whatever the size of the records. Work goes in batches, each
committed on its own, and selects only keys still under another master key: an interrupted run
resumes where it stopped, and a second run finds nothing to do.

Some secrets are sealed directly under a master key rather than under a data key: the second
factors' secrets (``accounts/mfa_secrets.py``). They must follow the active key too, or removing
the old key would strand them. Core does not know where they live: their owner registers a
*resealer* (``register_resealer``, from its ``AppConfig.ready``) and the rotation runs it after
the data keys. A registry rather than importing the owner here: the layers forbid core from
importing ``accounts``, and which fields of which library model hold a secret, and in which
format, is the owner's knowledge, kept next to the code that writes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from django.db import transaction

from .keyring import Keyring, get_keyring
from .models import DataKey


class Resealer(Protocol):
    def __call__(self, keyring: Keyring, *, batch_size: int, limit: int | None) -> tuple[int, int]:
        """Seal again under ``keyring.active_id`` at most ``limit`` secrets not under it (in
        batches committed on their own); return (re-sealed, still not under the active key)."""
        ...


_resealers: dict[str, Resealer] = {}


def register_resealer(name: str, resealer: Resealer) -> None:
    """Have every rotation also run ``resealer`` (once per ``name``: registering again
    replaces it)."""
    _resealers[name] = resealer


@dataclass
class RotationResult:
    active_id: str
    rewrapped: int = 0
    already_current: int = 0
    destroyed: int = 0
    remaining: int = 0
    #: Secrets sealed directly under a master key (second factors) sealed again, and left.
    resealed: int = 0
    secrets_remaining: int = 0


def rotate_data_keys(
    *,
    batch_size: int = 500,
    on_batch: Callable[[RotationResult, int], None] | None = None,
    actor: object = None,
    limit: int | None = None,
) -> RotationResult:
    """Re-wrap every live data key not under the active master key (at most ``limit`` of
    them, for a run inside a web request: ``remaining`` then says what is left), then seal
    again the registered secrets not under it (within what is left of ``limit``).

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
    for resealer in _resealers.values():
        budget = None if limit is None else max(limit - result.rewrapped - result.resealed, 0)
        done, left = resealer(keyring, batch_size=batch_size, limit=budget)
        result.resealed += done
        result.secrets_remaining += left
    if result.rewrapped or result.resealed:
        _record(result, actor)
    return result


def _record(result: RotationResult, actor: object) -> None:
    from transferdesk.trail import AuditAction, record_event

    with transaction.atomic():
        record_event(
            action=AuditAction.KEY_ROTATED,
            actor=actor,
            object_type="transferdesk.datakey",
            details={
                "active_key_id": result.active_id,
                "rewrapped": result.rewrapped,
                "resealed": result.resealed,
            },
        )
