"""Compliance reports (PDF, reportlab, through the shared evidence frame ``transferdesk.pdf``).

Each kind is a module with ``title(params)`` and ``build(params, ctx)``, a generator of
flowables that streams its rows from the database, so a report over 100,000 events never holds
them all. ``render_report`` is the one entry point; ``service`` runs it as a job or for the
``audit_report`` command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from django.utils import timezone

from transferdesk.pdf import EvidenceDocument, ReportMeta
from transferdesk.trail import chain_head

from ..models import ReportKind
from . import access, deal, processing, review
from .common import BuildContext, Progress, ReportParams

BUILDERS: dict[str, Any] = {
    ReportKind.DEAL_AUDIT: deal,
    ReportKind.ACCESS: access,
    ReportKind.PROCESSING: processing,
    ReportKind.ACCESS_REVIEW: review,
}


@dataclass(frozen=True)
class Rendered:
    """What a rendering produced: rows streamed, pages, the chain head printed on each page."""

    kind: str
    rows: int
    pages: int
    chain_head_seq: int
    chain_head_mac: str
    generated_at: datetime


def render_report(
    *,
    kind: str,
    params: ReportParams,
    target: str | IO[bytes],
    generated_by: str,
    progress: Progress | None = None,
) -> Rendered:
    """Write the PDF of ``kind`` to ``target``; raises ValidationError for bad parameters.

    The chain head is read before the first row, so every event the report lists is covered by
    the head it prints.
    """
    module = BUILDERS[ReportKind(kind)]
    head = chain_head()
    now = timezone.now()
    ctx = BuildContext(progress=progress)
    flowables = module.build(params, ctx)
    first = next(flowables)  # validates the parameters before any file is written
    document = EvidenceDocument(
        target,
        ReportMeta(
            title=module.title(params),
            generated_by=generated_by,
            generated_at=timezone.localtime(now),
            chain_head=f"{head.seq}:{head.mac}",
        ),
    )

    def stream() -> Any:
        yield first
        yield from flowables

    document.build_stream(stream())
    return Rendered(
        kind=str(kind),
        rows=ctx.rows,
        pages=document.page,
        chain_head_seq=head.seq,
        chain_head_mac=head.mac,
        generated_at=now,
    )


__all__ = ["BUILDERS", "Rendered", "ReportParams", "render_report"]
