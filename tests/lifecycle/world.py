"""Objects the permission matrix needs for the ``lifecycle:`` URLs."""

from __future__ import annotations

from typing import Any

from django.utils import timezone


def lifecycle_world(cast: Any) -> None:
    from audits.incidents import incident_create
    from audits.retention import customer_erase, legal_hold_place, policy_confirm, policy_save
    from customers.services import customer_create

    policy = policy_save(
        actor=cast.compliance, organization=cast.seller, category="customer_record",
        event="contract_end", period_days=3650, action="destroy",
    )  # fmt: skip
    cast.policy = policy_confirm(actor=cast.compliance, policy=policy)
    cast.hold = legal_hold_place(actor=cast.compliance, customer=cast.customer, reason="Case 1")
    erased = customer_create(
        actor=cast.broker,
        organization=cast.seller,
        values={"reference": "M-ERASE", "full_name": "E"},
    )
    cast.certificate = customer_erase(
        actor=cast.compliance, customer=erased, request_ref="REQ-M"
    ).certificate
    from audits.retention import deal_destroy
    from transfers.choices import AssignmentRole
    from transfers.services import deal_assign, deal_create

    lost = deal_create(
        actor=cast.broker, reference="DEAL-LOST", title="Lost", seller=cast.seller,
        buyer=cast.buyer_org, purposes="x", legal_basis="Contract",
    )  # fmt: skip
    deal_assign(actor=cast.broker, deal=lost, user=cast.buyer, role=AssignmentRole.BUYER)
    cast.destruction = deal_destroy(actor=cast.compliance, deal=lost, reason="losing_bidder")
    now = timezone.now()
    cast.incident = incident_create(
        actor=cast.compliance, detected_at=now, description="Matrix incident", severity="low",
        window_start=now, window_end=now,
    )  # fmt: skip
    # An incident whose window holds a read of the matrix customer, with its notices prepared.
    from audits.incidents import incident_notices_prepare
    from transferdesk.trail import AuditAction, record_event

    record_event(
        action=AuditAction.VIEW_SENSITIVE, actor=cast.broker, obj=cast.customer,
        details={"fields": ["full_name"]},
    )  # fmt: skip
    cast.notified_incident = incident_create(
        actor=cast.compliance, detected_at=now, description="Matrix read", severity="low",
        window_start=now, window_end=timezone.now(), suspect_users=[cast.broker],
    )  # fmt: skip
    cast.incident_campaign = incident_notices_prepare(
        actor=cast.compliance, incident=cast.notified_incident
    )
