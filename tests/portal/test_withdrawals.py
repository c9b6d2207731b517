"""A record a follow-up task deletes, erases or restricts leaves the buyer's portal at once:
the list, the record page, the filters, the exports; the manifest page, the receipt and the
bundle say which records were withdrawn, without touching the signed delivery manifest."""

from __future__ import annotations

import csv
import io

import pypdf
import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from transfers import notices, receipts, signing
from transfers.models import HandoverItem
from transfers.portal_models import FollowUpTask

pytestmark = pytest.mark.django_db


@pytest.fixture
def buyer(client, cast):
    cache.delete(f"portal:export-rate:{cast.buyer.pk}")
    client.force_login(cast.buyer)
    yield client
    cache.delete(f"portal:export-rate:{cast.buyer.pk}")


def _customer_objects(deal, customer) -> None:
    """The customer opens their personal link in their own browser and objects."""
    cache.clear()  # the link pages are rate-limited per address
    link = notices.link_issue(actor=None, deal=deal, customer=customer)
    response = Client().post(f"/n/{notices.link_token(link)}/act/", {"action": "object"})
    assert response.status_code == 302


def _records_page(client, stage) -> str:
    response = client.get(reverse("portal:stage", args=[stage.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _csv(client, stage) -> str:
    response = client.post(reverse("portal:export", args=[stage.pk, "csv"]))
    assert response.status_code == 200
    return response.content.decode("utf-8-sig")


def test_an_objecting_customer_leaves_the_buyers_records_exports_and_record_page(
    buyer, cast, delivered
):
    stage = delivered.identified
    customer = delivered.customers[2]
    item = HandoverItem.objects.get(stage=stage, customer_id=customer.pk)
    assert customer.reference in _records_page(buyer, stage)

    _customer_objects(delivered.deal, customer)
    task = FollowUpTask.objects.get(item=item)
    assert (task.kind, task.status) == ("delete", "open")
    # At once, before the buyer attests: the record is no longer offered.
    item_url = reverse("portal:item", args=[stage.pk, item.pk])
    assert customer.reference not in _records_page(buyer, stage)
    assert buyer.get(item_url).status_code == 404

    response = buyer.post(
        reverse("portal:task_attest", args=[task.pk]), {"attestation": "Deleted from our CRM."}
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == "done"

    page = _records_page(buyer, stage)
    assert customer.reference not in page
    assert "1 withdrawn since delivery" in page
    others = [c for c in delivered.customers if c.pk != customer.pk]
    assert all(c.reference in page for c in others[:5])
    assert buyer.get(item_url).status_code == 404
    filtered = buyer.get(reverse("portal:stage", args=[stage.pk]), {"q": customer.reference})
    assert item_url not in filtered.content.decode()  # (the query itself is echoed back)
    exported = list(csv.reader(io.StringIO(_csv(buyer, stage))))
    assert not any(customer.reference in row for row in exported)
    assert any(others[0].reference in row for row in exported)
    # Its pseudonym leaves the pseudonymised stage too (one task per stage holding it).
    pseudo_item = HandoverItem.objects.get(stage=delivered.pseudo, customer_id=customer.pk)
    pseudo_url = reverse("portal:item", args=[delivered.pseudo.pk, pseudo_item.pk])
    assert buyer.get(pseudo_url).status_code == 404
    # The task list still tells the buyer which record to remove, without a dead link.
    tasks = buyer.get(reverse("portal:tasks", args=[delivered.deal.pk])).content.decode()
    assert customer.reference in tasks and item_url not in tasks


def test_the_manifest_page_receipt_and_bundle_name_the_withdrawal_and_stay_verifiable(
    buyer, cast, delivered
):
    stage = delivered.identified
    customer = delivered.customers[4]
    item = HandoverItem.objects.get(stage=stage, customer_id=customer.pk)
    before = buyer.get(reverse("portal:acknowledge", args=[stage.pk])).content.decode()
    assert "No record of this stage has been withdrawn." in before
    _customer_objects(delivered.deal, customer)

    page = buyer.get(reverse("portal:acknowledge", args=[stage.pk])).content.decode()
    assert "Withdrawn since delivery" in page
    assert f"#{item.pk}" in page and item.digest[:16] in page
    assert "The customer objected to the transfer" in page
    assert stage.manifest.merkle_root in page  # the signed root is unchanged

    pdf = buyer.get(reverse("portal:receipt", args=[stage.pk])).content
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert "Withdrawn since delivery" in text and f"#{item.pk}" in text

    bundle = buyer.get(reverse("portal:manifest", args=[stage.pk])).json()
    withdrawn = bundle["withdrawals"]["body"]["withdrawn"]
    assert [(w["item"], w["digest"], w["reason"]) for w in withdrawn] == [
        (item.pk, item.digest, "objection")
    ]
    assert bundle["withdrawals"]["body"]["merkle_root"] == stage.manifest.merkle_root
    assert signing.verify_signature(
        bundle["withdrawals"]["body"], bundle["withdrawals"]["signature"], bundle["public_key"]
    )
    assert receipts.verify_bundle(bundle).ok
    # A withdrawal quietly dropped from the statement no longer verifies.
    bundle["withdrawals"]["body"]["withdrawn"] = []
    assert not receipts.verify_bundle(bundle).ok


def test_a_question_about_a_withdrawn_record_no_longer_links_to_it(buyer, cast, delivered):
    from transfers.portal_services import question_ask

    stage = delivered.identified
    customer = delivered.customers[7]
    item = HandoverItem.objects.get(stage=stage, customer_id=customer.pk)
    question = question_ask(actor=cast.buyer, stage=stage, item=item, subject="Q", body="Why?")
    item_url = reverse("portal:item", args=[stage.pk, item.pk])
    thread = reverse("portal:question", args=[question.pk])
    assert item_url in buyer.get(thread).content.decode()
    _customer_objects(delivered.deal, customer)
    page = buyer.get(thread).content.decode()
    assert item_url not in page and "about one record" in page


def test_a_restriction_task_withdraws_the_record_too(buyer, cast, delivered):
    from transfers.portal_services import followup_create

    stage = delivered.identified
    customer = delivered.customers[5]
    item = HandoverItem.objects.get(stage=stage, customer_id=customer.pk)
    followup_create(item=item, kind="update", reason="restriction", actor=cast.compliance)
    assert customer.reference not in _records_page(buyer, stage)
    assert buyer.get(reverse("portal:item", args=[stage.pk, item.pk])).status_code == 404


def test_a_correction_task_leaves_the_record_in_place(buyer, cast, delivered):
    from transfers.portal_services import followup_create

    stage = delivered.identified
    customer = delivered.customers[6]
    item = HandoverItem.objects.get(stage=stage, customer_id=customer.pk)
    followup_create(item=item, kind="update", reason="correction", actor=cast.broker)
    assert customer.reference in _records_page(buyer, stage)
    assert buyer.get(reverse("portal:item", args=[stage.pk, item.pk])).status_code == 200


def test_an_export_after_a_withdrawal_records_the_items_it_holds(buyer, cast, delivered):
    """The export's row and its audit event count what the file holds, not the withdrawn
    record as well: the trail must say how many records left the data room."""
    from transferdesk.trail import AuditAction, AuditEvent
    from transfers.portal_models import PortalExport

    stage = delivered.identified
    _customer_objects(delivered.deal, delivered.customers[2])
    records = list(csv.reader(io.StringIO(_csv(buyer, stage))))[2:]
    export = PortalExport.objects.get(stage=stage)
    event = AuditEvent.objects.get(action=AuditAction.EXPORT, object_id=str(export.pk))
    assert export.item_count == event.details["items"] == len(records) == stage.items.count() - 1
