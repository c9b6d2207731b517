"""Follow-up tasks (GDPR art. 19): created on seller correction and erasure and by the notices
issue, attested by the buyer, overdue ones listed for compliance."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from customers.services import customer_update
from transferdesk.trail import AuditAction, AuditEvent
from transfers.portal_models import FollowUpStatus, FollowUpTask
from transfers.portal_services import (
    followup_attest,
    followup_create,
    followups_for_customer_change,
)

pytestmark = pytest.mark.django_db


def test_followup_create_makes_one_open_task_per_item_and_kind(cast, delivered):
    item = delivered.pseudo.items.first()
    task = followup_create(item=item, kind="delete", reason="objection", actor=None, due_days=10)
    again = followup_create(item=item, kind="delete", reason="objection")
    assert again.pk == task.pk
    assert task.deal_id == delivered.deal.pk and task.status == FollowUpStatus.OPEN
    event = AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_id=str(task.pk), object_type="transfers.followuptask"
    ).get()
    assert event.details["kind"] == "delete" and event.details["item"] == item.pk


def test_followup_create_refuses_an_item_of_a_stage_not_handed_over(cast, delivered):
    item = delivered.pseudo.items.first()
    delivered.pseudo.status = "cancelled"
    with pytest.raises(ValidationError):
        followup_create(item=item, kind="update", reason="correction")


def test_a_broker_correction_of_a_handed_over_customer_creates_the_buyer_task(cast, delivered):
    customer = delivered.customers[0]
    customer_update(actor=cast.broker, customer=customer, values={"city": "Suzhou"})
    tasks = FollowUpTask.objects.filter(item__customer_id=customer.pk, deal=delivered.deal)
    # city is general: both the pseudonymised and the identified stage carry it
    assert {t.item.stage_id for t in tasks} == {delivered.pseudo.pk, delivered.identified.pk}
    assert {t.kind for t in tasks} == {"update"}
    assert {t.reason for t in tasks} == {"correction"}


def test_a_sensitive_correction_reaches_only_stages_that_carry_it(cast, delivered):
    customer = delivered.customers[0]
    customer_update(actor=cast.broker, customer=customer, values={"phone": "+8613900000000"})
    tasks = FollowUpTask.objects.filter(item__customer_id=customer.pk)
    assert [t.item.stage_id for t in tasks] == [delivered.identified.pk]


def test_erasure_creates_delete_tasks_for_every_delivered_item_of_every_recipient(cast, delivered):
    customer = delivered.customers[1]
    tasks = followups_for_customer_change(customer=customer, kind="delete", actor=cast.broker)
    assert len(tasks) == 3 and {t.kind for t in tasks} == {"delete"}


def test_attestation_closes_the_task_and_is_an_audit_event(cast, delivered):
    item = delivered.pseudo.items.first()
    task = followup_create(item=item, kind="update", reason="correction", actor=cast.broker)
    followup_attest(task=task, actor=cast.buyer, statement="Updated in our CRM.")
    task.refresh_from_db()
    assert task.status == FollowUpStatus.DONE and task.attested_by == cast.buyer
    event = AuditEvent.objects.filter(
        action=AuditAction.UPDATE, object_id=str(task.pk), object_type="transfers.followuptask"
    ).get()
    assert event.details["attested"] is True
    with pytest.raises(ValidationError):
        followup_attest(task=task, actor=cast.buyer, statement="Again.")


# --- pages -----------------------------------------------------------------------------------


def test_the_buyer_sees_the_task_with_its_deadline_and_attests_it(client, cast, delivered):
    from datetime import timedelta

    from django.urls import reverse
    from django.utils import timezone

    item = delivered.pseudo.items.order_by("pk").first()
    task = followup_create(item=item, kind="delete", reason="objection", due_days=14)
    client.force_login(cast.buyer)
    page = client.get(reverse("portal:tasks", args=[delivered.deal.pk])).content.decode()
    assert "Delete record" in page and "The customer objected to the transfer" in page
    event = AuditEvent.objects.filter(action=AuditAction.PORTAL_VIEW).order_by("-seq").first()
    assert event.details["items"] == [item.pk]
    response = client.post(
        reverse("portal:task_attest", args=[task.pk]), {"attestation": "Deleted everywhere."}
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == FollowUpStatus.DONE and task.attestation == "Deleted everywhere."
    assert task.due_at - task.created_at == timedelta(days=14)
    assert task.attested_at <= timezone.now()


def test_other_buyers_cannot_attest(client, cast, delivered):
    from django.urls import reverse

    task = followup_create(item=delivered.pseudo.items.first(), kind="update", reason="correction")
    client.force_login(cast.other_buyer)
    response = client.post(reverse("portal:task_attest", args=[task.pk]), {"attestation": "x"})
    assert response.status_code == 404
    task.refresh_from_db()
    assert task.status == FollowUpStatus.OPEN


def test_overdue_tasks_are_listed_for_compliance(client, cast, delivered):
    from django.urls import reverse

    late = followup_create(
        item=delivered.pseudo.items.first(), kind="delete", reason="erasure", due_days=0
    )
    FollowUpTask.objects.filter(pk=late.pk).update(due_at=late.due_at.replace(year=2020))
    on_time = followup_create(
        item=delivered.identified.items.first(), kind="update", reason="correction"
    )
    client.force_login(cast.compliance)
    page = client.get(reverse("portal:overdue")).content.decode()
    assert f"#{late.item_id}" in page and f"#{on_time.item_id}" not in page
    client.force_login(cast.buyer)
    assert client.get(reverse("portal:overdue")).status_code == 403


def test_erasing_a_handed_over_customer_gives_each_recipient_a_delete_task(cast, delivered):
    from audits.retention import customer_erase

    customer = delivered.customers[2]
    customer_erase(actor=cast.compliance, customer=customer, request_ref="DSR-7")
    tasks = FollowUpTask.objects.filter(item__customer_id=customer.pk)
    assert {t.deal_id for t in tasks} == {delivered.deal.pk, delivered.other_deal.pk}
    assert {(t.kind, t.reason) for t in tasks} == {("delete", "erasure")}
