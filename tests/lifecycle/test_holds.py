"""Legal holds placed from the retention page: by customer reference or on a whole deal, with
a reason; they block the purge and the preview says why."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from audits.models import LegalHold
from audits.retention import policy_preview, purge_policy
from customers.models import Customer
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

LONG_AGO = dt.date(2020, 1, 1)
URL = reverse("lifecycle:hold_place")


def test_compliance_places_a_customer_hold_that_blocks_the_purge(
    cast, client, seller, make_customer, contract_policy
):
    held, _ = make_customer(retention_until=LONG_AGO)
    other, _ = make_customer(retention_until=LONG_AGO)
    client.force_login(cast.compliance)
    response = client.post(
        URL,
        {"organization": seller.pk, "customer_reference": held.reference, "reason": "Case 88"},
    )
    assert response.status_code == 302
    hold = LegalHold.objects.get()
    assert (hold.customer, hold.deal, hold.reason, hold.placed_by) == (
        held, None, "Case 88", cast.compliance
    )  # fmt: skip
    event = AuditEvent.objects.get(action=AuditAction.UPDATE, object_id=str(hold.pk))
    assert event.details["legal_hold"] == "placed" and event.actor == cast.compliance
    policy = contract_policy()
    preview = policy_preview(policy)
    assert (preview.due, preview.held, preview.hold_reasons) == (1, 1, [("Case 88", 1)])
    purge_policy(policy=policy)
    assert Customer.objects.filter(pk=held.pk).exists()
    assert not Customer.objects.filter(pk=other.pk).exists()
    page = client.get(reverse("lifecycle:retention")).content.decode()
    assert "Case 88" in page and f"Customer {held.reference}" in page and "compliance" in page


def test_a_deal_hold_from_the_page_blocks_the_deals_customers(
    cast, client, seller, make_customer, contract_policy
):
    from transfers.services import deal_create

    make_customer(retention_until=LONG_AGO)
    deal = deal_create(
        actor=cast.broker, reference="D-PAGE-HOLD", title="Held", seller=seller,
        buyer=cast.buyer_org, purposes="x", legal_basis="contract",
    )  # fmt: skip
    client.force_login(cast.compliance)
    response = client.post(URL, {"deal": deal.pk, "reason": "Regulator inquiry 12"})
    assert response.status_code == 302
    assert LegalHold.objects.get().deal == deal
    preview = policy_preview(contract_policy())
    assert (preview.due, preview.held) == (0, 1)
    assert preview.hold_reasons == [("Deal D-PAGE-HOLD: Regulator inquiry 12", 1)]
    page = client.get(reverse("lifecycle:retention")).content.decode()
    assert "Deal D-PAGE-HOLD: Regulator inquiry 12" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"customer_reference": "L-00001", "reason": ""}, "This field is required."),
        ({"reason": "Case 1"}, "Name the customer (seller and reference) or the deal."),
        ({"customer_reference": "NOPE", "reason": "Case 1"}, "has no customer with this reference"),
        ({"customer_reference": "X", "reason": "Case 1", "no_org": True},
         "Choose whose customer this is."),
    ],
)  # fmt: skip
def test_a_bad_hold_is_refused_with_a_clear_error(cast, client, seller, data, message):
    data = dict(data)
    if not data.pop("no_org", False):
        data["organization"] = seller.pk
    client.force_login(cast.compliance)
    response = client.post(URL, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not LegalHold.objects.exists()


def test_a_second_active_hold_and_a_hold_on_both_are_refused(cast, client, seller, make_customer):
    from transfers.services import deal_create

    customer, _ = make_customer()
    deal = deal_create(
        actor=cast.broker, reference="D-BOTH", title="Both", seller=seller,
        buyer=cast.buyer_org, purposes="x", legal_basis="contract",
    )  # fmt: skip
    client.force_login(cast.compliance)
    data = {"organization": seller.pk, "customer_reference": customer.reference, "reason": "A"}
    assert client.post(URL, data).status_code == 302
    again = client.post(URL, data).content.decode()
    assert "already under an active legal hold" in again
    both = client.post(URL, {**data, "deal": deal.pk}).content.decode()
    assert "Hold either one customer or one deal, not both." in both
    assert LegalHold.objects.count() == 1


def test_only_compliance_places_holds(cast, client, seller, make_customer):
    customer, _ = make_customer()
    client.force_login(cast.broker)
    data = {"organization": seller.pk, "customer_reference": customer.reference, "reason": "A"}
    assert client.post(URL, data).status_code == 403
    assert not LegalHold.objects.exists()


def test_the_hold_list_pages_on_its_own_parameter(cast, client, make_customer, settings):
    """Each table of the retention page pages by its own parameter, keeping the others."""
    from audits.retention import legal_hold_place

    settings.TRANSFERDESK_PAGE_SIZE = 3
    for n in range(7):
        customer, _ = make_customer()
        legal_hold_place(actor=cast.compliance, customer=customer, reason=f"Case {n:02d}")
    client.force_login(cast.compliance)
    url = reverse("lifecycle:retention")
    first = client.get(url).content.decode()
    assert "Case 06" in first and "Case 03" not in first  # newest first, three a page
    assert "holds_page=2" in first and "1\u20133 of 7" in first
    last = client.get(url, {"holds_page": 3, "runs_page": 1}).content.decode()
    assert "Case 00" in last and "Case 01" not in last and "7\u20137 of 7" in last
    assert "runs_page=1&amp;holds_page=2" in last  # the other table's page is kept
