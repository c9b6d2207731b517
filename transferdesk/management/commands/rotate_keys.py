"""``rotate_keys``: re-wrap every data key under the active (first) master key, and seal the
second factors' secrets under it again (and those still in clear).

Run it after putting a new key first in ``TRANSFERDESK_MASTER_KEYS``; when it reports no key and
no secret left, the old key can be removed from the keyring. Safe to interrupt and run again.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from transferdesk.crypto.errors import CryptoError
from transferdesk.crypto.rotation import RotationResult, rotate_data_keys


class Command(BaseCommand):
    help = (
        "Re-wrap data keys and seal second-factor secrets under the active master key "
        "(data is not re-encrypted)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Keys per committed batch (500)."
        )

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")

        def progress(result: RotationResult, remaining: int) -> None:
            self.stdout.write(f"  re-wrapped {result.rewrapped}, {remaining} left")

        try:
            result = rotate_data_keys(batch_size=batch_size, on_batch=progress)
        except CryptoError as exc:
            raise CommandError(f"rotate_keys stopped: {exc}") from None
        self.stdout.write(
            f"rotate_keys: {result.rewrapped} data key(s) re-wrapped under "
            f"{result.active_id!r}, {result.already_current} already current, "
            f"{result.destroyed} destroyed (skipped)."
        )
        if result.resealed or result.secrets_remaining:
            self.stdout.write(
                f"rotate_keys: {result.resealed} second-factor secret(s) sealed again under "
                f"{result.active_id!r}, {result.secrets_remaining} left."
            )
