"""``restore FILE --target DATABASE_URL``: verify, restore, re-apply the destruction ledger,
verify the audit chain, print one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from audits.backups import BackupError, restore


class Command(BaseCommand):
    help = _(
        "Restore an encrypted backup into an empty target database. Refuses a file whose "
        "manifest MAC, checksum or authentication tag fails; destroys again every key the "
        "destruction ledger holds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help=_("The .tdbk file (its manifest is read beside it)."))
        parser.add_argument(
            "--target", required=True, help=_("DATABASE_URL of the (empty) target database.")
        )
        parser.add_argument(
            "--allow-unauthenticated-manifest",
            action="store_true",
            help=_(
                "Restore a backup whose manifest has no MAC (taken before manifests were "
                "authenticated) or is missing, trusting only the encrypted file."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            outcome = restore(
                path=path,
                target_url=options["target"],
                allow_unauthenticated_manifest=options["allow_unauthenticated_manifest"],
            )
        except BackupError as exc:
            raise CommandError(f"restore: REFUSED {path.name}: {exc}") from None
        if not outcome.chain_ok:
            raise CommandError(
                f"restore: FAILED audit chain check in {outcome.target}: {outcome.chain_message}"
            )
        self.stdout.write(
            f"restore: OK {path.name} -> {outcome.target}; {outcome.keys_redestroyed} keys "
            f"destroyed again, {outcome.customers_removed} customers removed; audit chain OK "
            f"({outcome.chain_events} events) in {outcome.seconds:.1f}s"
        )
