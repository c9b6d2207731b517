"""``import_customers --org SLUG FILE [--dry-run]``: the import service from the shell.

Columns are mapped from their headers (English or Chinese). Prints one summary line, then the
problems by row and column (messages never contain the file's values); exits non-zero when
nothing was imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from customers.models import Organization
from customers.services import customer_import


class Command(BaseCommand):
    help = "Import a customer file (CSV UTF-8/GBK or XLSX) into an organisation, all or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="slug of the seller organisation")
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
        parser.add_argument(
            "--generate-references",
            action="store_true",
            help="the file has no reference column: number the customers TD-000001 onwards",
        )

    def handle(
        self,
        *args: Any,
        file: Path,
        org: str,
        dry_run: bool,
        generate_references: bool = False,
        **options: Any,
    ) -> None:
        try:
            organization = Organization.objects.get(slug=org)
        except Organization.DoesNotExist:
            raise CommandError(f"no organisation with the short name {org!r}") from None
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        outcome = customer_import(
            actor=None,
            organization=organization,
            data=data,
            dry_run=dry_run,
            source="command",
            generate_references=generate_references,
        )
        for problem in outcome.problems:
            where = f"row {problem.row}" if problem.row else "file"
            column = f" [{problem.column}]" if problem.column else ""
            self.stderr.write(f"{where}{column}: {problem.message}")
        unmapped = (
            f", not stored: {', '.join(outcome.unmapped_columns)}"
            if (outcome.unmapped_columns)
            else ""
        )
        if not outcome.ok:
            raise CommandError(
                f"import_customers: {outcome.rows} rows, {len(outcome.problems)} problems; "
                f"nothing imported{unmapped}"
            )
        verb = "would import" if dry_run else "imported"
        self.stdout.write(
            f"import_customers: {outcome.rows} rows valid; {verb} {outcome.rows} customers, "
            f"{outcome.purchases if not dry_run else '-'} purchases, "
            f"{outcome.interactions if not dry_run else '-'} interactions into {org}{unmapped}"
        )
