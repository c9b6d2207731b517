"""``manage.py verify_receipt FILE``: check a downloaded handover receipt bundle.

Offline checks need only the file (signature, counts, Merkle root); where this installation
holds the stage, every stored item is checked against the receipt too, naming any mismatch.
Prints one line; exits 1 when verification fails.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from transfers.receipts import stage_for_bundle, verify_bundle


class Command(BaseCommand):
    help = "Verify a handover receipt bundle (manifest JSON with signature) offline."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file")
        parser.add_argument("--fingerprint", help="The public key fingerprint you were given.")
        parser.add_argument(
            "--offline", action="store_true", help="Do not compare with stored items."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with open(options["file"], encoding="utf-8") as handle:
                bundle = json.load(handle)
        except (OSError, ValueError) as exc:
            raise CommandError(f"verify_receipt: cannot read {options['file']}: {exc}") from None
        stage = None if options["offline"] else stage_for_bundle(bundle)
        result = verify_bundle(bundle, stage=stage, expected_fingerprint=options["fingerprint"])
        if not result.ok:
            raise CommandError(f"verify_receipt: {result.summary}")
        self.stdout.write(f"verify_receipt: {result.summary}")
