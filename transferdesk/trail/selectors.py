"""Reads of the audit trail: its head, as receipts, reports and backups print it."""

from __future__ import annotations

from typing import NamedTuple

from .models import GENESIS_MAC, AuditEvent


class ChainHead(NamedTuple):
    """What receipts and reports print so that the other parties hold a copy of the head.

    A later truncation of the trail is caught by comparing a printed head with the chain
    (``verify_audit_chain --anchor SEQ:MAC``).
    """

    events: int  # how many events (``count`` would shadow tuple.count)
    seq: int
    mac: str


def chain_head() -> ChainHead:
    """The last event's position and MAC, and the number of events (equal in a sound chain).

    Inside a transaction that has just written an event, the head includes that event.
    """
    head = AuditEvent.objects.order_by("-seq").values_list("seq", "mac").first()
    if head is None:
        return ChainHead(events=0, seq=0, mac=GENESIS_MAC)
    return ChainHead(events=AuditEvent.objects.count(), seq=head[0], mac=head[1])
