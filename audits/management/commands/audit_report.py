"""``audit_report``: render a compliance report PDF from the command line.

    manage.py audit_report --kind deal_audit --deal D-1 --out deal.pdf
    manage.py audit_report --kind access --from 2026-01-01 --to 2026-03-31 --out access.pdf

Prints one line (kind, rows, pages, chain head, file) and exits 0, or exits non-zero with the
reason (unknown deal, bad dates, unwritable file). Writes a REPORT_GENERATED event like the job.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from audits.models import ReportKind
from audits.reports.common import ReportParams
from audits.reports.service import report_write


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(_("Dates are YYYY-MM-DD, not {value!r}.").format(value=value)) from error


class Command(BaseCommand):
    help = _("Render a compliance report (deal audit, access, processing record, access review).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kind", required=True, choices=[k.value for k in ReportKind])
        parser.add_argument("--deal", default="", help=_("Deal reference."))
        parser.add_argument(
            "--from", dest="date_from", default="", help=_("First day (YYYY-MM-DD).")
        )
        parser.add_argument("--to", dest="date_to", default="", help=_("Last day (YYYY-MM-DD)."))
        parser.add_argument("--by", choices=["user", "customer"], default="user")
        parser.add_argument(
            "--campaign", type=int, default=None, help=_("Access-review campaign id.")
        )
        parser.add_argument("--user", default="", help=_("Username recorded as the author."))
        parser.add_argument("--out", required=True, help=_("PDF file to write."))

    def handle(self, *args: Any, **options: Any) -> None:
        kind = options["kind"]
        params = ReportParams(
            deal=options["deal"],
            date_from=_date(options["date_from"]) if options["date_from"] else None,
            date_to=_date(options["date_to"]) if options["date_to"] else None,
            by=options["by"],
            campaign=options["campaign"],
        )
        if params.date_from and params.date_to and params.date_from > params.date_to:
            raise CommandError(_("--from is after --to."))
        if kind in (ReportKind.DEAL_AUDIT, ReportKind.PROCESSING) and not params.deal:
            raise CommandError(_("--kind {kind} needs --deal REF.").format(kind=kind))
        if kind == ReportKind.ACCESS_REVIEW and not params.campaign:
            raise CommandError(_("--kind access_review needs --campaign ID."))
        actor = None
        if options["user"]:
            actor = get_user_model().objects.filter(username=options["user"]).first()
            if actor is None:
                raise CommandError(_("There is no user {name}.").format(name=options["user"]))
        out = Path(options["out"])
        partial = out.with_name(out.name + ".part")
        try:
            rendered = report_write(actor=actor, kind=kind, params=params, target=str(partial))
        except ValidationError as error:
            partial.unlink(missing_ok=True)
            raise CommandError("audit_report: " + " ".join(error.messages)) from error
        except OSError as error:
            partial.unlink(missing_ok=True)
            raise CommandError(f"audit_report: {error}") from error
        partial.replace(out)
        self.stdout.write(
            f"audit_report: OK {kind} {rendered.rows} rows, {rendered.pages} pages, "
            f"head {rendered.chain_head_seq}:{rendered.chain_head_mac[:16]}, {out}"
        )
