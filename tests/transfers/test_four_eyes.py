"""The engine checks the four eyes itself: a stage row changed behind the services' back (in
the admin, in the database) is refused by the sweeper and the worker, never delivered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from customers.choices import Tier
from transferdesk.celery import app
from transferdesk.trail import AuditAction, AuditEvent
from transfers import engine, services
from transfers.choices import RunRefusal, StageKind, StageStatus
from transfers.models import HandoverItem, HandoverStage, StageApproval

from .conftest import make_customers, open_notice_window

pytestmark = pytest.mark.django_db

ALL_TIERS = [Tier.GENERAL, Tier.SENSITIVE, Tier.CORE]


@pytest.fixture(autouse=True)
def eager():
    """The sweeper enqueues and the tasks run in-process (the live tests cover the worker)."""
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture(scope="module")
def catalogues() -> None:
    """The compiled Chinese catalogue (``.mo`` files are not in git), read afresh."""
    from io import StringIO

    from django.core.management import call_command
    from django.utils.translation import trans_real

    call_command("compile_catalogues", stdout=StringIO())
    trans_real._translations = {}
    trans_real._default = None


@pytest.fixture
def customers(cast, catalogues):
    return make_customers(cast.seller, 9)


def planned(cast, deal, kind=StageKind.PSEUDONYMISED, tiers=(Tier.GENERAL,), selection=None):
    return services.stage_create(
        actor=cast.broker, deal=deal, name=f"{kind} stage", kind=kind, tier_scope=list(tiers),
        selection=selection,
    )  # fmt: skip


def approved(cast, deal, **kwargs):
    """Submitted and approved through the services, not started (as after a lost message)."""
    stage = planned(cast, deal, **kwargs)
    services.stage_submit(actor=cast.broker, stage=stage)
    services.stage_approve(actor=cast.compliance, stage=stage, note="Checked.", start=False)
    return stage


def tamper(stage, **fields):
    """What an operator with the database (or the old admin) does: one UPDATE of the row."""
    HandoverStage.objects.filter(pk=stage.pk).update(**fields)


def sweep_now():
    return engine.sweep(older_than=timedelta(0))


def assert_refused(stage, refusal):
    stage.refresh_from_db()
    assert stage.status == StageStatus.FAILED
    assert stage.refusal == refusal
    assert stage.failure_reason == str(refusal.label)  # English, for the logs
    with translation.override("zh-hans"):
        assert stage.get_refusal_display() != stage.failure_reason  # the page's language
    assert not HandoverItem.objects.filter(stage=stage).exists()
    assert not hasattr(stage, "manifest") or stage.manifest is None
    event = AuditEvent.objects.filter(
        action=AuditAction.HANDOVER_REFUSED, object_id=str(stage.pk)
    ).get()
    assert event.details["reason"] == refusal.value
    assert not AuditEvent.objects.filter(
        action=AuditAction.HANDOVER_STARTED, object_id=str(stage.pk)
    ).exists()


def test_a_draft_switched_to_approved_identified_all_tiers_in_the_database_is_not_delivered(
    cast, deal, customers
):
    # The attack of the issue: a deal that sent no notices, a draft pseudonymised stage, and a
    # row saved with kind=identified, all tiers, status=approved an hour ago.
    stage = planned(cast, deal)
    tamper(
        stage, kind=StageKind.IDENTIFIED, tier_scope=ALL_TIERS, status=StageStatus.APPROVED,
        approved_by=cast.compliance, approved_at=timezone.now() - timedelta(hours=1),
        submitted_by=cast.broker, total=9,
    )  # fmt: skip
    assert sweep_now() == 1
    assert_refused(stage, RunRefusal.NOT_APPROVED)
    assert sweep_now() == 0  # failed: the sweeper leaves it alone from now on


def test_an_approved_pseudonymised_stage_widened_to_identified_is_refused(cast, deal, customers):
    stage = approved(cast, deal)
    tamper(stage, kind=StageKind.IDENTIFIED, tier_scope=ALL_TIERS)
    assert engine.run_stage(stage.pk) == "refused"
    assert_refused(stage, RunRefusal.SCOPE_CHANGED)


def test_an_identified_stage_given_more_tiers_after_approval_is_refused(cast, deal, customers):
    open_notice_window(deal)
    stage = approved(cast, deal, kind=StageKind.IDENTIFIED, tiers=(Tier.GENERAL, Tier.SENSITIVE))
    tamper(stage, tier_scope=ALL_TIERS)
    sweep_now()
    assert_refused(stage, RunRefusal.SCOPE_CHANGED)


def test_a_selection_widened_after_approval_is_refused(cast, deal, customers):
    stage = approved(cast, deal, selection={"segment": ["business"]})
    tamper(stage, selection={})
    sweep_now()
    assert_refused(stage, RunRefusal.SCOPE_CHANGED)


def test_an_approval_widened_with_its_stage_in_the_database_no_longer_verifies(
    cast, deal, customers
):
    stage = approved(cast, deal)
    # Stage and approval rewritten alike, so that they match: the seal does not.
    tamper(stage, kind=StageKind.IDENTIFIED, tier_scope=ALL_TIERS)
    StageApproval.objects.filter(stage=stage).update(
        kind=StageKind.IDENTIFIED, tier_scope=ALL_TIERS
    )
    sweep_now()
    assert_refused(stage, RunRefusal.SEAL)


def test_an_approval_cannot_be_rewritten_as_the_requesters_own(cast, deal, customers):
    stage = approved(cast, deal)
    with pytest.raises(IntegrityError), transaction.atomic():
        StageApproval.objects.filter(stage=stage).update(approved_by=cast.broker)
    StageApproval.objects.filter(stage=stage).update(approved_by=cast.other_broker)
    sweep_now()
    assert_refused(stage, RunRefusal.SEAL)


def test_an_approval_forged_in_the_database_without_the_key_is_refused(cast, deal, customers):
    stage = planned(cast, deal)
    StageApproval.objects.create(
        stage=stage, requested_by=cast.broker, approved_by=cast.compliance,
        kind=stage.kind, tier_scope=stage.tier_scope, selection={}, customers=0, seal="0" * 64,
    )  # fmt: skip
    tamper(stage, status=StageStatus.APPROVED, approved_at=timezone.now())
    sweep_now()
    assert_refused(stage, RunRefusal.SEAL)


def test_customers_added_to_an_approval_in_the_database_stop_the_stage(cast, deal, customers):
    stage = approved(cast, deal, selection={"segment": ["business"]})
    approval = StageApproval.objects.get(stage=stage)
    outsider = next(c for c in customers if c.segment != "business")
    approval.members.create(customer_id=outsider.pk)
    sweep_now()
    assert_refused(stage, RunRefusal.POPULATION_CHANGED)


def test_a_stage_widened_while_it_runs_stops_at_its_next_partition(cast, deal, customers):
    stage = approved(cast, deal)
    lease = "a" * 32
    tamper(stage, status=StageStatus.RUNNING, lease=lease, heartbeat_at=timezone.now())
    tamper(stage, kind=StageKind.IDENTIFIED, tier_scope=ALL_TIERS)
    assert engine.run_part(stage.pk, lease, 0, 1) == "refused"
    stage.refresh_from_db()
    assert stage.status == StageStatus.FAILED and stage.refusal == RunRefusal.SCOPE_CHANGED
    assert not HandoverItem.objects.filter(stage=stage).exists()


def test_a_stage_approved_through_the_services_still_runs(cast, deal, customers):
    stage = approved(cast, deal)
    assert sweep_now() == 1
    stage.refresh_from_db()
    assert stage.status == StageStatus.DELIVERED and stage.items.count() == 9
    assert stage.refusal == ""
