"""Each action of the catalogue is written by the service that performs it, with its actor,
object and deal; and no action can join the catalogue without a test that names it."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from customers.choices import Tier
from tests.transfers.conftest import make_customers, make_deal
from transferdesk.trail import AuditAction, AuditEvent
from transfers import services
from transfers.choices import StageKind

TESTS = Path(__file__).resolve().parents[1]


def last_event(action: AuditAction) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).latest("seq")


@pytest.fixture
def stage(cast):
    deal = make_deal(cast)
    make_customers(cast.seller, 3)
    return services.stage_create(
        actor=cast.broker, deal=deal, name="Overview", kind=StageKind.PSEUDONYMISED,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip


def assert_written(event: AuditEvent, *, actor, obj, deal) -> None:
    assert event.actor_id == actor.pk
    assert event.actor_name == actor.get_full_name() or event.actor_name == actor.username
    assert event.object_type == obj._meta.label_lower or event.object_type == obj._meta.label
    assert event.object_id == str(obj.pk)
    assert event.deal_ref == (str(deal.pk) if deal is not None else "")


def test_stage_submit_writes_stage_submitted(cast, stage):
    services.stage_submit(actor=cast.broker, stage=stage)
    assert_written(
        last_event(AuditAction.STAGE_SUBMITTED), actor=cast.broker, obj=stage, deal=stage.deal
    )


def test_stage_reject_writes_stage_rejected(cast, stage):
    services.stage_submit(actor=cast.broker, stage=stage)
    services.stage_reject(actor=cast.compliance, stage=stage, reason="Scope too wide.")
    assert_written(
        last_event(AuditAction.STAGE_REJECTED), actor=cast.compliance, obj=stage, deal=stage.deal
    )


def test_stage_cancel_writes_stage_cancelled(cast, stage):
    services.stage_cancel(actor=cast.broker, stage=stage)
    assert_written(
        last_event(AuditAction.STAGE_CANCELLED), actor=cast.broker, obj=stage, deal=stage.deal
    )


def test_incident_create_writes_incident(cast):
    from audits.incidents import incident_create

    now = timezone.now()
    incident = incident_create(
        actor=cast.compliance,
        detected_at=now,
        description="Laptop lost.",
        severity="high",
        window_start=now - timedelta(days=1),
        window_end=now,
    )
    assert_written(last_event(AuditAction.INCIDENT), actor=cast.compliance, obj=incident, deal=None)


def test_every_action_of_the_catalogue_is_named_by_a_test():
    sources = "\n".join(p.read_text() for p in TESTS.rglob("test_*.py"))
    missing = [
        action.name
        for action in AuditAction
        if not re.search(rf"AuditAction\.{action.name}\b|[\"']{action.value}[\"']", sources)
    ]
    assert not missing, f"actions no test names: {missing}"
