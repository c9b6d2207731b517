"""Guarantee 9: a purge of customers whose data was handed over gives every recipient a
deletion task with a deadline (GDPR art. 19), once, even across a resumed run."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from audits import retention
from audits.models import PurgeRun
from audits.retention import policy_confirm, policy_save, purge_policy
from customers.models import Customer
from customers.services import customer_create
from transferdesk.trail import AuditAction, AuditEvent
from transfers.models import HandoverItem
from transfers.portal_models import FollowUpTask
from transfers.portal_services import followup_due_days
from transfers.services import nda_accept, nda_publish

pytestmark = pytest.mark.django_db

LONG_AGO = dt.date(2020, 1, 1)


def _due(*customers):
    Customer.objects.filter(pk__in=[c.pk for c in customers]).update(retention_until=LONG_AGO)


def _policy(cast):
    policy = policy_save(
        actor=cast.compliance, organization=cast.seller, category="customer_record",
        event="contract_end", period_days=365, action="destroy",
    )  # fmt: skip
    return policy_confirm(actor=cast.compliance, policy=policy)


def test_purging_a_handed_over_customer_gives_the_buyer_a_deletion_task(cast, client, delivered):
    deal, stage = delivered
    handed_over = Customer.objects.get(pk=stage.items.order_by("pk").first().customer_id)
    never_handed = customer_create(
        actor=None, organization=cast.seller, values={"reference": "NEVER-1", "full_name": "N"}
    )
    _due(handed_over, never_handed)

    outcome = purge_policy(policy=_policy(cast), actor=cast.compliance)

    assert outcome.customers == 2
    task = FollowUpTask.objects.get()
    item = HandoverItem.objects.get(pk=task.item_id)
    assert item.customer_id == handed_over.pk and bytes(item.snapshot) == b""
    assert task.deal == deal and task.deal.buyer == cast.buyer_org
    assert (task.kind, task.reason, task.status) == ("delete", "erasure", "open")
    assert task.due_at - task.created_at == dt.timedelta(days=followup_due_days())
    assert not FollowUpTask.objects.filter(item__customer_id=never_handed.pk).exists()
    assert PurgeRun.objects.get().counts["snapshots.followups"] == 1
    event = AuditEvent.objects.get(
        action=AuditAction.CREATE, object_type="transfers.followuptask", deal_ref=str(deal.pk)
    )
    assert event.details["items"] == [item.pk] and event.details["reason"] == "erasure"
    # The buyer sees it on their tasks page, labelled as erased (nothing left to decrypt).
    nda_accept(actor=cast.buyer, nda=nda_publish(actor=cast.broker, deal=deal, text="NDA"))
    client.force_login(cast.buyer)
    page = client.get(reverse("portal:tasks", args=[deal.pk])).content.decode()
    assert f"Record #{item.pk}, erased at the seller" in page and "Delete record" in page
    # The stage page lists the remaining records and no longer the wiped one.
    stage_page = client.get(reverse("portal:stage", args=[stage.pk]))
    assert stage_page.status_code == 200
    assert f"/items/{item.pk}" not in stage_page.content.decode()


def test_a_resumed_purge_creates_each_deletion_task_once(cast, delivered, monkeypatch):
    _deal, stage = delivered
    customers = list(Customer.objects.filter(pk__in=stage.items.values("customer_id")))
    _due(*customers)
    policy = _policy(cast)
    wipe = retention._Bulk.wipe_snapshots
    calls = []

    def dies_on_the_third_chunk(self, model):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker lost")
        return wipe(self, model)

    monkeypatch.setattr(retention._Bulk, "wipe_snapshots", dies_on_the_third_chunk)
    with pytest.raises(RuntimeError):
        purge_policy(policy=policy, chunk_size=1)
    assert FollowUpTask.objects.count() == 2  # two chunks committed; the third rolled back
    monkeypatch.setattr(retention._Bulk, "wipe_snapshots", wipe)

    purge_policy(policy=policy, chunk_size=1)  # picks up what is left

    assert sum(PurgeRun.objects.values_list("customers", flat=True)) == 4
    tasks = FollowUpTask.objects.all()
    assert sorted(t.item_id for t in tasks) == sorted(stage.items.values_list("pk", flat=True))
    assert len(tasks) == len(customers) == 4


def test_asking_twice_for_the_same_customers_makes_no_second_task(cast, delivered):
    from transfers.portal_services import followups_for_erased_customers

    _deal, stage = delivered
    ids = list(stage.items.values_list("customer_id", flat=True))
    assert followups_for_erased_customers(customer_ids=ids, actor=cast.compliance) == 4
    assert followups_for_erased_customers(customer_ids=ids, actor=cast.compliance) == 0
    assert FollowUpTask.objects.count() == 4


def test_an_anonymising_purge_asks_the_recipients_to_delete_too(cast, delivered):
    _deal, stage = delivered
    item = stage.items.order_by("pk").first()
    _due(Customer.objects.get(pk=item.customer_id))
    policy = policy_save(
        actor=cast.compliance, organization=cast.seller, category="customer_record",
        event="contract_end", period_days=365, action="anonymise",
    )  # fmt: skip
    purge_policy(policy=policy_confirm(actor=cast.compliance, policy=policy))
    task = FollowUpTask.objects.get()
    assert (task.item_id, task.kind, task.reason) == (item.pk, "delete", "erasure")
