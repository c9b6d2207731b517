"""Deals, assignments, NDAs and the stage state machine: who may do what, and the trail."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from customers.choices import Tier
from transferdesk.trail import AuditAction, AuditEvent
from transfers import services
from transfers.choices import AssignmentRole, StageKind, StageStatus
from transfers.models import DealAssignment, HandoverStage, TransferDeal

from .conftest import make_customers, open_notice_window

pytestmark = pytest.mark.django_db


@pytest.fixture
def submitted(cast, deal):
    make_customers(cast.seller, 6)
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name="Overview", kind=StageKind.PSEUDONYMISED,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    return services.stage_submit(actor=cast.broker, stage=stage)


def test_assigning_a_buyer_is_a_grant_event_naming_who_gave_what_to_whom(cast, deal):
    event = AuditEvent.objects.filter(action=AuditAction.GRANT, deal_ref=str(deal.pk)).last()
    assert event.actor_id == cast.broker.pk
    assert event.details["to_username"] == "buyer"
    assert event.details["role"] == "buyer"
    assert "access_portal" in event.details["permissions"]


def test_removing_a_buyer_revokes_at_once_and_records_the_revocation(cast, deal):
    assert TransferDeal.objects.restrict(cast.buyer, "portal").filter(pk=deal.pk).exists()
    assignment = DealAssignment.objects.get(deal=deal, user=cast.buyer)
    services.deal_unassign(actor=cast.broker, assignment=assignment)
    assert not TransferDeal.objects.restrict(cast.buyer, "portal").exists()
    assert not TransferDeal.objects.restrict(cast.buyer, "view").exists()
    event = AuditEvent.objects.filter(action=AuditAction.REVOKE).last()
    assert (event.actor_id, event.details["from_username"]) == (cast.broker.pk, "buyer")
    assert set(event.details["permissions"]) == {"view_transferdeal", "access_portal"}


def test_competing_bidders_never_see_each_others_deal(cast, deal):
    assert list(TransferDeal.objects.restrict(cast.buyer, "view")) == [deal]
    assert deal not in TransferDeal.objects.restrict(cast.other_buyer, "view")
    assert deal not in TransferDeal.objects.restrict(cast.other_broker, "view")
    assert TransferDeal.objects.restrict(cast.compliance, "view").count() == 2


def test_superuser_gets_no_wider_view_through_the_door(cast, deal):
    assert not TransferDeal.objects.restrict(cast.admin, "view").exists()


def test_a_buyer_of_another_organisation_cannot_be_assigned(cast, deal):
    with pytest.raises(ValidationError):
        services.deal_assign(
            actor=cast.broker, deal=deal, user=cast.other_buyer, role=AssignmentRole.BUYER
        )


def test_a_new_nda_version_needs_acceptance_again(cast, deal):
    first = services.nda_publish(actor=cast.broker, deal=deal, text="Keep it secret.")
    services.nda_accept(actor=cast.buyer, nda=first, ip="10.0.0.1", user_agent="pytest")
    assert services.has_accepted_current_nda(user=cast.buyer, deal=deal)
    second = services.nda_publish(actor=cast.broker, deal=deal, text="Keep it very secret.")
    assert not services.has_accepted_current_nda(user=cast.buyer, deal=deal)
    acceptance = services.nda_accept(actor=cast.buyer, nda=second, ip="10.0.0.1")
    assert acceptance.text_sha256 == second.text_sha256 != first.text_sha256
    with pytest.raises(ValidationError):
        services.nda_accept(actor=cast.buyer, nda=first)


def test_submitting_freezes_counts_per_tier_and_segment(submitted):
    assert submitted.status == StageStatus.SUBMITTED
    assert submitted.preview["total"] == 6
    assert submitted.preview["by_tier"]["general"]["customers"] == 6
    assert sum(submitted.preview["by_segment"].values()) == 6


def test_the_submitter_cannot_approve_their_own_stage(cast, submitted):
    cast.broker.groups.add(*cast.compliance.groups.all())  # even holding both roles
    with pytest.raises(PermissionDenied):
        services.stage_approve(actor=cast.broker, stage=submitted, note="Fine by me.")
    assert HandoverStage.objects.get(pk=submitted.pk).status == StageStatus.SUBMITTED


@pytest.mark.parametrize("who", ["buyer", "other_broker", "broker"])
def test_buyers_and_brokers_cannot_approve(cast, submitted, who):
    with pytest.raises(PermissionDenied):
        services.stage_approve(actor=getattr(cast, who), stage=submitted, note="ok")


def test_approval_needs_a_note_and_rejection_a_reason(cast, submitted):
    with pytest.raises(ValidationError):
        services.stage_approve(actor=cast.compliance, stage=submitted, note="  ")
    with pytest.raises(ValidationError):
        services.stage_reject(actor=cast.compliance, stage=submitted, reason="")
    services.stage_reject(actor=cast.compliance, stage=submitted, reason="Too wide.")
    assert HandoverStage.objects.get(pk=submitted.pk).status == StageStatus.REJECTED


def test_an_identified_stage_waits_for_the_notice_window(cast, deal):
    make_customers(cast.seller, 6)
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name="Identified", kind=StageKind.IDENTIFIED,
        tier_scope=[Tier.GENERAL, Tier.SENSITIVE],
    )  # fmt: skip
    services.stage_submit(actor=cast.broker, stage=stage)
    with pytest.raises(ValidationError, match="objection window"):
        services.stage_approve(actor=cast.compliance, stage=stage, note="ok")
    deal.cross_border, deal.destination_country = True, "GB"
    deal.save()
    open_notice_window(deal)
    with pytest.raises(ValidationError, match="cross-border"):
        services.stage_approve(actor=cast.compliance, stage=stage, note="ok")


def test_an_approved_stage_cannot_be_approved_again(
    cast, submitted, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        services.stage_approve(actor=cast.compliance, stage=submitted, note="ok")
    with pytest.raises(ValidationError):
        services.stage_approve(actor=cast.compliance, stage=submitted, note="again")


def test_an_aggregate_stage_cannot_carry_sensitive_fields(cast, deal):
    with pytest.raises(ValidationError):
        services.stage_create(
            actor=cast.broker, deal=deal, name="x", kind=StageKind.AGGREGATE,
            tier_scope=[Tier.GENERAL, Tier.SENSITIVE],
        )  # fmt: skip


def test_a_deal_goes_into_handover_with_its_first_stage_and_completes_when_all_are_done(
    cast, deal, django_capture_on_commit_callbacks
):
    from transfers.choices import DealStatus
    from transfers.engine import run_stage

    make_customers(cast.seller, 6)
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name="Overview", kind=StageKind.AGGREGATE,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    services.stage_submit(actor=cast.broker, stage=stage)
    with pytest.raises(ValidationError):
        services.deal_complete(actor=cast.broker, deal=deal)
    services.stage_approve(actor=cast.compliance, stage=stage, note="ok", start=False)
    run_stage(stage.pk)
    deal.refresh_from_db()
    assert deal.status == DealStatus.IN_HANDOVER
    assert services.deal_complete(actor=cast.broker, deal=deal).status == DealStatus.COMPLETED


def test_submitting_an_identified_stage_says_when_it_can_be_approved(cast, deal, client):
    """Submission is allowed before the notices' window closes, but never without a word."""
    from datetime import timedelta

    from django.urls import reverse
    from django.utils import timezone

    make_customers(cast.seller, 3)
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name="Contacts", kind=StageKind.IDENTIFIED,
        tier_scope=[Tier.GENERAL, Tier.SENSITIVE],
    )  # fmt: skip
    client.force_login(cast.broker)
    page = client.post(reverse("transfers:stage_submit", args=[stage.pk]), follow=True)
    assert "Submitted for approval" in page.text
    assert "the transfer notices have not been sent" in page.text

    closes = timezone.now() + timedelta(days=7)
    TransferDeal.objects.filter(pk=deal.pk).update(
        notices_sent_at=timezone.now(), objection_window_closes_at=closes
    )
    page = client.get(reverse("transfers:stage_detail", args=[stage.pk]))
    assert "It can be approved from" in page.text
    assert str(timezone.localtime(closes).year) in page.text

    open_notice_window(deal)
    page = client.get(reverse("transfers:stage_detail", args=[stage.pk]))
    assert "It can be approved from" not in page.text and "cannot be approved" not in page.text
