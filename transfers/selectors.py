"""Scoped reads of transfers, and the customers a deal's stages select.

The stage planner and the engine read the seller's customers only through ``deal_customers``:
scoped by the deal (its seller), never by a user's organisation permissions, because the
deal is what authorises the handover.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db.models import Count, QuerySet

from customers.choices import CustomerStatus, Tier
from customers.models import Customer
from customers.registry import fields_of
from transferdesk.permissions import RestrictedQuerySet

from .choices import ExclusionReason, StageStatus
from .models import ApprovedCustomer, HandoverStage, StageApproval, TransferDeal

#: General fields a selection may filter on (the registry's general tier minus identifiers and
#: free text that make no sense as a filter).
SELECTION_EXCLUDED = frozenset({"reference", "collection_purpose", "status"})


def selectable_fields() -> list[str]:
    return [f for f in fields_of(Customer, Tier.GENERAL) if f not in SELECTION_EXCLUDED]


def deal_customers(deal: TransferDeal) -> QuerySet[Customer]:
    """Every customer of the deal's seller, whatever their status."""
    return Customer.objects.filter(organization_id=deal.seller_id)


def stage_selection(stage: HandoverStage) -> QuerySet[Customer]:
    """The customers a stage selects (before exclusions): all, or a filter on general fields.

    ``selection`` maps a general field to a list of accepted values, e.g.
    ``{"segment": ["retail"], "country": ["CN"]}``.
    """
    queryset = deal_customers(stage.deal)
    for name, values in (stage.selection or {}).items():
        if name not in selectable_fields():
            raise ValueError(f"selection on {name!r} is not allowed")
        queryset = queryset.filter(**{f"{name}__in": list(values)})
    return queryset


def eligible(queryset: QuerySet[Customer]) -> QuerySet[Customer]:
    """Only active customers move: objectors, held and erased are excluded."""
    return queryset.filter(status=CustomerStatus.ACTIVE)


def approved_members(approval: StageApproval) -> QuerySet[ApprovedCustomer]:
    """The customers frozen in an approval (``ApprovedCustomer`` rows)."""
    return ApprovedCustomer.objects.filter(approval_id=approval.pk)


def approved_population(stage: HandoverStage, approval: StageApproval) -> QuerySet[Customer]:
    """Who the engine hands over: the stage's eligible selection, narrowed to the customers
    frozen at approval. A customer imported after approval is not among them; one who
    objected (or was put on hold, or erased) after approval is no longer eligible. One
    semi-join on the approval's unique index, no per-customer work."""
    return eligible(stage_selection(stage)).filter(
        pk__in=approved_members(approval).values("customer_id")
    )


def exclusion_counts(queryset: QuerySet[Customer]) -> dict[str, int]:
    counts = dict(queryset.values_list("status").annotate(n=Count("pk")).order_by())
    return {reason.value: counts.get(reason.value, 0) for reason in ExclusionReason}


def stage_preview(stage: HandoverStage) -> dict[str, Any]:
    """What submitting shows before anything moves: counts per tier and segment, exclusions."""
    selected = stage_selection(stage)
    moving = eligible(selected)
    by_segment = Counter(dict(moving.values_list("segment").annotate(n=Count("pk")).order_by()))
    total = sum(by_segment.values())
    tiers = {
        tier: {"fields": len(fields_of(Customer, tier)), "customers": total}
        for tier in stage.tier_scope
    }
    return {
        "selected": selected.count(),
        "total": total,
        "by_segment": {(k or "—"): v for k, v in sorted(by_segment.items())},
        "by_tier": tiers,
        "exclusions": exclusion_counts(selected),
    }


def campaign_approval_queue() -> RestrictedQuerySet:
    """Notice campaigns (a deal's transfer notices, an incident's notices) prepared and
    waiting for a second compliance officer."""
    from .notice_models import CampaignStatus, NoticeCampaign

    return NoticeCampaign.objects.filter(status=CampaignStatus.DRAFT).select_related(
        "deal", "incident", "prepared_by"
    )


def approval_queue() -> RestrictedQuerySet:
    return HandoverStage.objects.filter(status=StageStatus.SUBMITTED).select_related(
        "deal", "deal__seller", "deal__buyer", "submitted_by"
    )
