"""Demo deals for ``seed_demo``: Meridian's book offered to two competing bidders.

Meridian → Northwind (cross-border, assessment documented) has a delivered aggregate stage, an
approved pseudonymised stage and a draft identified stage; Meridian → Eastlake is the competing
bidder's deal with its own buyer and broker. Idempotent: existing deals are left as they are.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from customers.choices import Tier
from customers.models import Organization

from . import engine, services
from .choices import AssignmentRole, StageKind
from .models import TransferDeal

NDA_TEXT = (
    "The recipient keeps every record received through TransferDesk confidential, uses it only "
    "for the purposes declared in the deal, and destroys it if the deal does not close.\n"
    "接收方对通过 TransferDesk 收到的所有记录保密，仅用于交易中声明的目的，交易未完成时予以销毁。"  # noqa: RUF001
)


def seed_deals(*, orgs: dict[str, Organization], users: dict[str, Any]) -> str:
    """Create the two demo deals once; returns a summary for the command's line."""
    if TransferDeal.objects.filter(reference__in=["MER-NW-2026", "MER-EL-2026"]).exists():
        return "demo deals already there"
    broker, broker2, compliance = users["broker"], users["broker2"], users["compliance"]
    northwind = services.deal_create(
        actor=broker,
        reference="MER-NW-2026",
        title="Meridian appliance service book 美瑞家电服务客户",
        seller=orgs["meridian"],
        buyer=orgs["northwind"],
        purposes="Continue warranty and repair service for Meridian's customers.",
        legal_basis="Legitimate interests (GDPR art. 6(1)(f)); PIPL art. 22 notice",
        target_closing_date=date(2027, 3, 31),
        cross_border=True,
        destination_country="GB",
        cross_border_assessment="Standard contract filed; impact assessment of 2026-10-02.",
    )
    for user, role in (
        (compliance, AssignmentRole.COMPLIANCE),
        (users["buyer"], AssignmentRole.BUYER),
    ):
        services.deal_assign(actor=broker, deal=northwind, user=user, role=role)
    services.nda_publish(actor=broker, deal=northwind, text=NDA_TEXT)

    aggregate = services.stage_create(
        actor=broker, deal=northwind, name="Book overview by segment",
        kind=StageKind.AGGREGATE, tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    services.stage_submit(actor=broker, stage=aggregate)
    services.stage_approve(
        actor=compliance, stage=aggregate, note="Counts only; small cells suppressed.",
        start=False,
    )  # fmt: skip
    engine.run_stage(aggregate.pk)  # delivered now, whatever the broker's state

    pseudonymised = services.stage_create(
        actor=broker, deal=northwind, name="Service history, pseudonymised",
        kind=StageKind.PSEUDONYMISED, tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    services.stage_submit(actor=broker, stage=pseudonymised)
    services.stage_approve(
        actor=compliance, stage=pseudonymised, note="General fields only; pseudonyms keyed.",
        start=False,
    )  # fmt: skip

    services.stage_create(
        actor=broker, deal=northwind, name="Contact details for service continuity",
        kind=StageKind.IDENTIFIED, tier_scope=[Tier.GENERAL, Tier.SENSITIVE],
    )  # fmt: skip

    eastlake = services.deal_create(
        actor=broker2,
        reference="MER-EL-2026",
        title="Meridian book, Eastlake bid 东湖商贸竞标",
        seller=orgs["meridian"],
        buyer=orgs["eastlake"],
        purposes="Evaluate the customer book for acquisition.",
        legal_basis="Legitimate interests (GDPR art. 6(1)(f))",
        target_closing_date=date(2027, 2, 28),
    )
    for user, role in (
        (compliance, AssignmentRole.COMPLIANCE),
        (users["buyer2"], AssignmentRole.BUYER),
    ):
        services.deal_assign(actor=broker2, deal=eastlake, user=user, role=role)
    services.nda_publish(actor=broker2, deal=eastlake, text=NDA_TEXT)
    return "2 demo deals created (MER-NW-2026, MER-EL-2026)"
