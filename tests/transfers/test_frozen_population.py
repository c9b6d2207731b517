"""What was approved is what is handed over: every customer of an identified stage told, with
their objection window closed, and nobody added after approval (issue: 10 notified, 15
approved, 18 delivered, 8 never notified)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from customers.choices import CustomerStatus, Tier
from tests.factories import CustomerFactory
from tests.notices.conftest import send_campaign
from transferdesk.celery import app
from transfers import engine, requests, services
from transfers.choices import RunRefusal, StageKind, StageStatus
from transfers.models import HandoverItem, StageApproval, TransferDeal
from transfers.notice_models import NoticeCampaign, RequestKind, RequestSource

pytestmark = pytest.mark.django_db

_serial = itertools.count()


def make_customers(org, n):
    """``n`` more customers of the seller (an import), each with its own national id."""
    made = []
    for _ in range(n):
        made.append(
            CustomerFactory(
                organization=org,
                segment="retail",
                country="CN",
                phone="+8613800000000",
                national_id=f"NID{next(_serial):06d}",
            )
        )
    return made


@pytest.fixture(autouse=True)
def eager():
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def objection_windows_pass(deal):
    """Time passes: the deadline of every campaign of the deal is behind us."""
    closed = timezone.now() - timedelta(days=1)
    NoticeCampaign.objects.filter(deal=deal).update(objection_deadline=closed)
    TransferDeal.objects.filter(pk=deal.pk).update(objection_window_closes_at=closed)
    deal.refresh_from_db()


def identified(cast, deal):
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name="Contacts", kind=StageKind.IDENTIFIED,
        tier_scope=[Tier.GENERAL, Tier.SENSITIVE],
    )  # fmt: skip
    return services.stage_submit(actor=cast.broker, stage=stage)


def delivered_ids(stage):
    return set(HandoverItem.objects.filter(stage=stage).values_list("customer_id", flat=True))


def test_only_the_told_and_approved_customers_are_delivered(
    cast, deal, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    first = make_customers(cast.seller, 10)
    send_campaign(cast, deal, capture)
    objection_windows_pass(deal)
    later = make_customers(cast.seller, 5)  # imported after the campaign: no notice at all

    stage = identified(cast, deal)
    assert stage.total == 15
    refusal = services.approval_refusal(actor=cast.compliance, stage=stage)
    assert refusal and "5 customer(s)" in refusal and "not been told" in refusal
    with pytest.raises(services.TransitionRefused):
        services.stage_approve(actor=cast.compliance, stage=stage, note="Checked.")
    stage.refresh_from_db()
    assert stage.status == StageStatus.SUBMITTED
    assert not StageApproval.objects.filter(stage=stage).exists()

    # The five are told too; until their window closes they are still untold.
    send_campaign(cast, deal, capture)
    assert services.approval_refusal(actor=cast.compliance, stage=stage)
    # Even with the deal's window shown as closed, each customer's own window counts.
    TransferDeal.objects.filter(pk=deal.pk).update(
        objection_window_closes_at=timezone.now() - timedelta(days=1)
    )
    stage.deal.refresh_from_db()
    refusal = services.approval_refusal(actor=cast.compliance, stage=stage)
    assert refusal and "5 customer(s)" in refusal
    objection_windows_pass(deal)
    assert services.approval_refusal(actor=cast.compliance, stage=stage) is None
    services.stage_approve(actor=cast.compliance, stage=stage, note="Checked.", start=False)
    approval = StageApproval.objects.get(stage=stage)
    assert approval.customers == 15

    after = make_customers(cast.seller, 3)  # imported after approval, never told
    objector = first[0]  # objects after approval: still excluded
    requests.request_create(
        customer=objector, deal=deal, kind=RequestKind.OBJECTION,
        source=RequestSource.CUSTOMER_PAGE,
    )  # fmt: skip
    objector.refresh_from_db()
    assert objector.status == CustomerStatus.OBJECTED

    engine.sweep(older_than=timedelta(0))
    stage.refresh_from_db()
    assert stage.status == StageStatus.DELIVERED
    expected = {c.pk for c in first[1:] + later}
    assert delivered_ids(stage) == expected
    assert not delivered_ids(stage) & {c.pk for c in after}
    assert stage.total == stage.manifest.item_count == 14


def test_a_customer_without_any_notice_keeps_an_identified_stage_from_approval(
    cast, deal, django_capture_on_commit_callbacks
):
    make_customers(cast.seller, 4)
    send_campaign(cast, deal, django_capture_on_commit_callbacks)
    objection_windows_pass(deal)
    make_customers(cast.seller, 1)
    stage = identified(cast, deal)
    refusal = services.approval_refusal(actor=cast.compliance, stage=stage)
    assert refusal and "1 customer(s)" in refusal


def test_customers_who_join_after_submission_need_a_new_submission(cast, deal):
    make_customers(cast.seller, 6)
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name="Overview", kind=StageKind.PSEUDONYMISED,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    services.stage_submit(actor=cast.broker, stage=stage)
    make_customers(cast.seller, 2)  # after the preview the officer reviews
    with pytest.raises(services.TransitionRefused, match="6 then, 8 now"):
        services.stage_approve(actor=cast.compliance, stage=stage, note="Checked.")
    services.stage_reject(actor=cast.compliance, stage=stage, reason="The book grew.")
    services.stage_submit(actor=cast.broker, stage=stage)
    services.stage_approve(actor=cast.compliance, stage=stage, note="Checked.", start=False)
    make_customers(cast.seller, 3)  # after approval: not in this stage
    engine.sweep(older_than=timedelta(0))
    stage.refresh_from_db()
    assert stage.status == StageStatus.DELIVERED and stage.items.count() == 8


def test_an_untold_customer_found_at_run_time_stops_an_identified_stage(
    cast, deal, django_capture_on_commit_callbacks
):
    make_customers(cast.seller, 4)
    campaign, _job = send_campaign(cast, deal, django_capture_on_commit_callbacks)
    objection_windows_pass(deal)
    stage = identified(cast, deal)
    services.stage_approve(actor=cast.compliance, stage=stage, note="Checked.", start=False)
    # The notice rows rewritten behind the services' back: the engine asks them again.
    campaign.notices.update(status="failed")
    engine.sweep(older_than=timedelta(0))
    stage.refresh_from_db()
    assert stage.status == StageStatus.FAILED and stage.refusal == RunRefusal.UNTOLD
    assert not delivered_ids(stage)
