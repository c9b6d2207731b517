"""``restore_drill``: restore the latest backup into a scratch database and check it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from audits.backups import restore_drill
from audits.models.backups import RunStatus


class Command(BaseCommand):
    help = _("Restore the latest backup into a scratch database, compare, verify, drop it.")

    def handle(self, *args: Any, **options: Any) -> None:
        drill = restore_drill()
        line = (
            f"restore_drill: {drill.status.upper()} {drill.file_name}: {drill.tables_checked} "
            f"tables, {drill.rows_checked} rows, {len(drill.mismatches)} mismatches, chain "
            f"{'OK' if drill.chain_ok else 'NOT OK'}"
        )
        if drill.status != RunStatus.SUCCEEDED:
            raise CommandError(f"{line}: {drill.error}")
        self.stdout.write(line)
