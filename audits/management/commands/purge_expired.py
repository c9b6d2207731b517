"""``purge_expired [--dry-run]``: run every confirmed retention policy (resumable)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from audits.retention import purge_expired


class Command(BaseCommand):
    help = _(
        "Purge what every confirmed retention policy says is due (crypto-shredding, tombstones, "
        "certificates). --dry-run only counts. A rerun resumes an interrupted purge."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help=_("Count only; change nothing."))

    def handle(self, *args: Any, **options: Any) -> None:
        outcomes = purge_expired(dry_run=options["dry_run"])
        skipped = sum(1 for o in outcomes if o.skipped_unconfirmed)
        elsewhere = sum(1 for o in outcomes if o.already_running)
        customers = sum(o.customers for o in outcomes)
        rows = sum(o.rows for o in outcomes)
        verb = "would purge" if options["dry_run"] else "purged"
        self.stdout.write(
            f"purge_expired: {verb} {customers} customers and {rows} rows under "
            f"{len(outcomes) - skipped - elsewhere} policies; {skipped} policies await "
            "confirmation"
            + (f"; {elsewhere} policies already running in another process" if elsewhere else "")
        )
