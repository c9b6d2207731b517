"""The access report: who read which customers' sensitive or core data, exported or revealed
it — by user or by customer — from the events that access logging wrote."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from django.db.models import Count
from django.utils.translation import gettext as _
from reportlab.lib.units import mm
from reportlab.platypus import Flowable

from customers.models import Customer
from transferdesk.pdf import para, title_page
from transferdesk.trail import AuditAction, AuditEvent

from ..labels import object_type_label
from .common import (
    CHUNK,
    BuildContext,
    ReportParams,
    action_labels,
    batched,
    heading,
    local,
    page_break,
    resolve_deal,
    section,
    within,
)
from .rows import row_blocks

ACCESS_ACTIONS = [
    AuditAction.VIEW_SENSITIVE,
    AuditAction.VIEW_CORE,
    AuditAction.REVEAL,
    AuditAction.EXPORT,
]
CUSTOMER = "customers.customer"


def title(params: ReportParams) -> str:
    return _("Access report")


def _customers(ids: set[str]) -> dict[str, tuple[str, str]]:
    """Reference and organisation of each customer id: general-tier data only, never names."""
    found: dict[str, tuple[str, str]] = {}
    valid = []
    for value in ids:
        try:
            valid.append(uuid.UUID(str(value)))
        except ValueError:
            continue  # not a customer id (an event written by hand): shown as recorded
    rows = Customer.objects.filter(pk__in=valid).values_list(
        "pk", "reference", "organization__legal_name"
    )
    for pk, reference, organisation in rows:
        found[str(pk)] = (reference, organisation)
    return found


def build(params: ReportParams, ctx: BuildContext) -> Iterator[Flowable]:
    events = within(AuditEvent.objects.filter(action__in=ACCESS_ACTIONS), params)
    deal_label = _("All deals")
    if params.deal:
        deal = resolve_deal(params.deal)
        events = events.filter(deal_ref=str(deal.pk))
        deal_label = f"{deal.reference} · {deal.title}"
    by_customer = params.by == "customer"
    ctx.totals["events"] = events.count()
    labels = action_labels()
    yield from title_page(
        _("Access report"),
        _("Who accessed which customers' sensitive and core data"),
        [
            (_("Deals"), deal_label),
            (_("Period"), params.period_label()),
            (_("Grouped"), _("by customer") if by_customer else _("by user")),
            (_("Access events"), ctx.totals["events"]),
        ],
    )
    yield page_break()
    summary = (
        events.values_list("actor_name", "action")
        .annotate(n=Count("seq"))
        .order_by("actor_name", "action")
    )
    yield from section(
        _("Summary by user"),
        [_("User"), _("Action"), _("Events")],
        (
            [actor or _("system"), labels.get(action, action), str(n)]
            for actor, action, n in summary
        ),
        _("Nobody accessed sensitive or core data in the period."),
        [70 * mm, 70 * mm, 38 * mm],
    )
    order = ("object_type", "object_id", "seq") if by_customer else ("actor_name", "seq")
    rows = (
        events.order_by(*order)
        .values_list("time", "actor_name", "action", "object_type", "object_id", "details")
        .iterator(chunk_size=CHUNK)
    )
    header = [_("Customer"), _("Organisation"), _("User"), _("Action"), _("Fields"), _("Time")]
    widths = [24 * mm, 36 * mm, 26 * mm, 32 * mm, 30 * mm, 30 * mm]
    if not by_customer:
        header = [_("User"), _("Customer"), _("Organisation"), _("Action"), _("Fields"), _("Time")]
        widths = [26 * mm, 24 * mm, 36 * mm, 32 * mm, 30 * mm, 30 * mm]
    # Potentially as long as the trail: drawn in row blocks, like the timelines.
    yield from heading(_("Accesses by customer") if by_customer else _("Accesses by user"))
    produced = False
    for block in row_blocks(header, _rows(rows, by_customer, labels, ctx), widths):
        produced = True
        yield block
    if not produced:
        yield para(_("Nobody accessed sensitive or core data in the period."), "muted")


def _rows(
    rows: Iterator[tuple[Any, ...]], by_customer: bool, labels: dict[str, str], ctx: BuildContext
) -> Iterator[list[str]]:
    for batch in batched(rows, CHUNK):
        ids = {oid for _t, _a, _x, otype, oid, _d in batch if otype == CUSTOMER}
        customers = _customers(ids)
        for when, actor, action, otype, oid, details in batch:
            reference, organisation = customers.get(
                oid, (f"{object_type_label(otype)} {oid}".strip(), "")
            )
            fields = (
                ", ".join((details or {}).get("fields", [])) if isinstance(details, dict) else ""
            )
            user = actor or _("system")
            label = labels.get(action, action)
            if by_customer:
                yield [reference, organisation, user, label, fields, local(when)]
            else:
                yield [user, reference, organisation, label, fields, local(when)]
        ctx.tick(len(batch))
