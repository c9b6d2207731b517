"""``verify_audit_chain``: walk the whole audit chain and name the first broken event."""

from __future__ import annotations

import os
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from audits.checkpoints import known_checkpoints
from audits.models import VerificationTrigger
from audits.verification import chain_verification_run, chain_verification_start
from transferdesk.trail.chain import Checkpoint, verify_chain

#: SEQ:MAC, where MAC may be cut to a prefix of at least 16 hex digits, as receipts print it.
_ANCHOR = re.compile(r"^(\d+):([0-9a-f]{16,64})$")


def _anchor(value: str) -> tuple[int, str]:
    match = _ANCHOR.match(value.strip().lower())
    if not match:
        raise CommandError(_("--anchor takes SEQ:MAC (the head printed on a receipt or report)."))
    return int(match.group(1)), match.group(2)


class Command(BaseCommand):
    help = _(
        "Recompute every audit event's MAC in order and check that the chain still holds the "
        "latest head each receipt, report, backup, certificate and earlier verification "
        "recorded. Exits 0 with the count and head, or non-zero naming the first event that "
        "was altered, removed, reordered or inserted, or the checkpoint a removed tail leaves "
        "unmatched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--anchor",
            action="append",
            default=[],
            metavar="SEQ:MAC",
            help=_("A chain head printed on a receipt or report; the chain must still hold it."),
        )
        parser.add_argument("--chunk-size", type=int, default=10_000, help=_("Rows per fetch."))
        parser.add_argument(
            "--jobs",
            type=int,
            default=min(4, os.cpu_count() or 1),
            help=_("Processes recomputing MACs on long chains (default: CPUs, at most 4)."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        anchors = dict(_anchor(value) for value in options["anchor"])
        if anchors:
            # Heads from outside (a receipt the buyer kept) next to the recorded ones; such a
            # run is not recorded, as its outcome depends on what the operator typed.
            given = [Checkpoint(seq=s, mac=m, source="anchor") for s, m in anchors.items()]
            result = verify_chain(
                chunk_size=options["chunk_size"],
                checkpoints=[*known_checkpoints(), *given],
                jobs=options["jobs"],
            )
        else:
            run = chain_verification_start(trigger=VerificationTrigger.COMMAND)
            _run, result = chain_verification_run(
                run_id=run.pk, chunk_size=options["chunk_size"], jobs_count=options["jobs"]
            )
        if not result.ok:
            raise CommandError(
                f"verify_audit_chain: FAILED at event {result.first_bad_seq} "
                f"({result.problem}): {result.message}"
            )
        checked = ""
        if result.checkpoints_checked:
            latest = max(result.checkpoints_checked, key=lambda c: c.seq)
            checked = ", holds " + _("{checkpoint} (event {seq})").format(
                checkpoint=latest.describe(), seq=latest.seq
            )
        self.stdout.write(
            f"verify_audit_chain: OK {result.count} events, head {result.head_seq} "
            f"{result.head_mac}{checked}"
        )
