"""The chain heads the product has already handed out or written down: checkpoints.

Every receipt (stage manifest), report, backup manifest and destruction certificate records
the audit chain head of its moment, and every successful verification records the head it
reached. A trail whose tail was deleted still forms a valid chain on its own; it no longer
holds these heads. ``known_checkpoints`` collects the latest of each kind, and the daily
verification, the page and ``verify_audit_chain`` check the chain against them by default
(DESIGN.md guarantee 6).

The latest of each source suffices: without the audit key nobody can build another chain
that reaches a recorded MAC, so a chain that holds the latest head holds every earlier one.
One per source, not only the overall latest, so deleting the newest report row (or receipt,
or run) does not silence the others. A future sequencer's signed checkpoints join here as one
more source.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator

from django.db.models import Q

from transferdesk.trail.chain import Checkpoint
from transfers.models import StageManifest

from .models import (
    BackupRun,
    ChainVerificationRun,
    DestructionCertificate,
    ReportRun,
)
from .models.backups import RunStatus

#: How a destruction certificate stores its head: ``SEQ:MAC`` (a 32-digit prefix).
_HEAD_TEXT = re.compile(r"^(\d+):([0-9a-f]{16,64})$")


def _at(value: dt.datetime | None) -> str:
    """A moment in language-neutral form, as the checkpoint's name shows it."""
    if value is None:
        return "?"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def receipt_checkpoints() -> Iterator[Checkpoint]:
    manifest = (
        StageManifest.objects.filter(chain_head_seq__gt=0)
        .exclude(chain_head_mac="")
        .select_related("stage__deal")
        .order_by("-chain_head_seq")
        .first()
    )
    if manifest is not None:
        yield Checkpoint(
            seq=manifest.chain_head_seq,
            mac=manifest.chain_head_mac.lower(),
            source="receipt",
            about={
                "deal": manifest.stage.deal.reference,
                "stage": str(manifest.stage.order),
                "at": _at(manifest.created_at),
            },
        )


def report_checkpoints() -> Iterator[Checkpoint]:
    run = (
        ReportRun.objects.filter(chain_head_seq__gt=0)
        .exclude(chain_head_mac="")
        .order_by("-chain_head_seq")
        .first()
    )
    if run is not None:
        yield Checkpoint(
            seq=run.chain_head_seq,
            mac=run.chain_head_mac.lower(),
            source="report",
            about={"kind": run.kind, "at": _at(run.finished_at or run.created_at)},
        )


def backup_checkpoints() -> Iterator[Checkpoint]:
    runs = BackupRun.objects.filter(status=RunStatus.SUCCEEDED).filter(
        manifest__has_key="chain_head"
    )
    for run in runs.order_by("-started_at")[:1]:
        head = run.manifest.get("chain_head") or {}
        seq, mac = head.get("seq"), head.get("mac")
        if isinstance(seq, int) and seq > 0 and isinstance(mac, str) and mac:
            yield Checkpoint(
                seq=seq,
                mac=mac.lower(),
                source="backup",
                about={"file": run.file_name, "at": _at(run.taken_at or run.started_at)},
            )


def certificate_checkpoints() -> Iterator[Checkpoint]:
    for certificate in DestructionCertificate.objects.order_by("-issued_at")[:1]:
        match = _HEAD_TEXT.match(certificate.chain_head.strip().lower())
        if match and int(match.group(1)) > 0:
            yield Checkpoint(
                seq=int(match.group(1)),
                mac=match.group(2),
                source="certificate",
                about={"at": _at(certificate.issued_at)},
            )


def verification_checkpoints() -> Iterator[Checkpoint]:
    run = (
        ChainVerificationRun.objects.filter(status=RunStatus.SUCCEEDED, head_seq__gt=0)
        .filter(~Q(head_mac=""))
        .order_by("-head_seq")
        .first()
    )
    if run is not None:
        yield Checkpoint(
            seq=run.head_seq,
            mac=run.head_mac,
            source="verification",
            about={"at": _at(run.finished_at or run.started_at)},
        )


#: Every place a head is recorded. Add a source here, not a special case in the verifier.
SOURCES: tuple[Callable[[], Iterator[Checkpoint]], ...] = (
    receipt_checkpoints,
    report_checkpoints,
    backup_checkpoints,
    certificate_checkpoints,
    verification_checkpoints,
)


def known_checkpoints() -> list[Checkpoint]:
    """The latest recorded head of each source, latest first."""
    found = [checkpoint for source in SOURCES for checkpoint in source()]
    return sorted(found, key=lambda c: c.seq, reverse=True)
