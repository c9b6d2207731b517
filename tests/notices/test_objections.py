"""Objections take effect at once: out of every stage not yet run; follow-ups for the buyer."""

from __future__ import annotations

import pytest

from customers.choices import CustomerStatus, Tier
from tests.transfers.conftest import make_customers, open_notice_window
from transferdesk.celery import app
from transferdesk.trail import AuditAction, AuditEvent
from transfers import notices, services
from transfers.choices import StageKind
from transfers.models import HandoverItem
from transfers.portal_models import FollowUpTask

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _eager():
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def identified_stage(cast, deal, capture, *, run=True):
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name="Contacts", kind=StageKind.IDENTIFIED,
        tier_scope=[Tier.GENERAL, Tier.SENSITIVE],
    )  # fmt: skip
    services.stage_submit(actor=cast.broker, stage=stage)
    with capture(execute=run):
        services.stage_approve(actor=cast.compliance, stage=stage, note="Checked.")
    stage.refresh_from_db()
    return stage


def object_on_the_page(client, deal, customer):
    link = notices.link_issue(actor=None, deal=deal, customer=customer)
    response = client.post(f"/n/{notices.link_token(link)}/act/", {"action": "object"})
    assert response.status_code == 302


def test_an_objection_before_the_stage_runs_keeps_the_customer_out(
    cast, deal, client, django_capture_on_commit_callbacks
):
    customers = make_customers(cast.seller, 4)
    objector = customers[1]
    open_notice_window(deal)
    stage = identified_stage(cast, deal, django_capture_on_commit_callbacks, run=False)
    object_on_the_page(client, deal, objector)  # approved, not yet run
    objector.refresh_from_db()
    assert objector.status == CustomerStatus.OBJECTED
    from transfers import engine

    engine.run_stage(stage.pk)
    stage.refresh_from_db()
    handed = set(stage.items.values_list("customer_id", flat=True))
    assert objector.pk not in handed
    assert handed == {c.pk for c in customers} - {objector.pk}
    assert stage.exclusions["objected"] == 1
    assert AuditEvent.objects.filter(action=AuditAction.OBJECTION, deal_ref=str(deal.pk)).exists()


def test_an_objection_after_delivery_creates_the_buyers_follow_up_task(
    cast, deal, client, django_capture_on_commit_callbacks
):
    customers = make_customers(cast.seller, 3)
    open_notice_window(deal)
    stage = identified_stage(cast, deal, django_capture_on_commit_callbacks)
    item = HandoverItem.objects.get(stage=stage, customer_id=customers[0].pk)
    object_on_the_page(client, deal, customers[0])
    task = FollowUpTask.objects.get(item=item)
    assert task.kind == "delete" and task.reason == "objection"
    assert not FollowUpTask.objects.exclude(item=item).exists()


def test_an_objection_writes_the_records_history_row_credited_to_nobody(cast, deal, client):
    from customers.choices import StatusChangeReason

    (customer,) = make_customers(cast.seller, 1)
    before = customer.history.count()
    object_on_the_page(client, deal, customer)
    assert customer.history.count() == before + 1
    row = customer.history.latest("history_date")
    assert row.status == CustomerStatus.OBJECTED
    assert row.history_user is None  # the customer, through their link; never the next saver
    assert row.history_change_reason == StatusChangeReason.OBJECTION
    client.force_login(cast.compliance)  # sees every book's general tier, the status included
    response = client.get(f"/customers/records/{customer.pk}/history/")
    page = response.content.decode()
    assert response.status_code == 200, page[-3000:]
    assert "The customer objected to the transfer" in page, page[page.find("<table") :][:3000]
