"""``backup``: one encrypted backup with its manifest; prunes backups past retention."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from audits.backups import BackupError, backup_run


class Command(BaseCommand):
    help = _("Take an encrypted, checksummed backup of the database (pg_dump or SQLite backup).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = backup_run()
        except BackupError as exc:
            raise CommandError(f"backup: FAILED: {exc}") from None
        self.stdout.write(
            f"backup: OK {run.file_name} {run.size} bytes sha256 {run.sha256} key {run.key_id}"
        )
