"""The deal form posted as a browser (or an attacker) would: a valid deal is created, and
hostile input gets a clear message on the page, never a 5xx, and creates nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from transfers.models import TransferDeal

pytestmark = pytest.mark.django_db


def valid(cast: Any, **changes: str) -> dict[str, str]:
    data = {
        "reference": "D-1",
        "title": "Retail book",
        "seller": str(cast.seller.pk),
        "buyer": str(cast.buyer_org.pk),
        "target_closing_date": "2027-03-31",
        "purposes": "Serving the customers' contracts",
        "legal_basis": "Contract",
        "destination_country": "",
        "cross_border_assessment": "",
    }
    data.update(changes)
    return data


def test_a_new_deal_posted_by_a_broker_is_created_with_its_key_and_assignment(cast, client):
    client.force_login(cast.broker)
    response = client.post(reverse("transfers:deal_create"), valid(cast))
    deal = TransferDeal.objects.get(reference="D-1")
    assert response.status_code == 302
    assert response["Location"] == reverse("transfers:deal_detail", args=[deal.pk])
    assert (deal.seller, deal.buyer) == (cast.seller, cast.buyer_org)
    assert deal.data_key_id is not None


def test_markup_in_a_deal_is_stored_as_text_and_shown_escaped(cast, client):
    client.force_login(cast.broker)
    markup = "<script>alert(1)</script><b>x</b>"
    client.post(reverse("transfers:deal_create"), valid(cast, title=markup))
    deal = TransferDeal.objects.get(reference="D-1")
    page = client.get(reverse("transfers:deal_detail", args=[deal.pk])).content.decode()
    assert markup not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reference": "R" * 33}, "at most 32 characters"),
        ({"reference": ""}, "This field is required."),
        ({"title": "t" * 201}, "at most 200 characters"),
        ({"title": "<script>" * 40}, "at most 200 characters"),
        ({"seller": "999999"}, "Select a valid choice"),
        ({"seller": "not-a-number"}, "Select a valid choice"),
        ({"seller": "buyer"}, "Select a valid choice"),  # a buyer organisation as the seller
        ({"buyer": "seller"}, "Select a valid choice"),
        ({"target_closing_date": "2027-02-30"}, "Enter a valid date."),
        ({"target_closing_date": "<img src=x>"}, "Enter a valid date."),
        ({"purposes": "a\x00b"}, "Null characters are not allowed."),
        ({"legal_basis": "L" * 256}, "at most 255 characters"),
        ({"destination_country": "CHN"}, "at most 2 characters"),
        ({"cross_border": "on"}, "A cross-border deal names its destination country."),
    ],
)
def test_hostile_input_gets_a_clear_message_and_creates_nothing(cast, client, changes, message):
    client.force_login(cast.broker)
    resolved = {
        name: {"buyer": str(cast.buyer_org.pk), "seller": str(cast.seller.pk)}.get(value, value)
        for name, value in changes.items()
    }
    response = client.post(reverse("transfers:deal_create"), valid(cast, **resolved))
    assert response.status_code < 500
    assert response.status_code != 302
    assert message in response.content.decode()
    assert not TransferDeal.objects.exists()


def test_a_second_deal_with_the_same_reference_is_refused_on_the_form(cast, client):
    client.force_login(cast.broker)
    client.post(reverse("transfers:deal_create"), valid(cast))
    response = client.post(reverse("transfers:deal_create"), valid(cast, title="Again"))
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert TransferDeal.objects.count() == 1


def test_editing_a_deal_still_keeps_its_reference_and_parties_fixed(cast, client):
    client.force_login(cast.broker)
    client.post(reverse("transfers:deal_create"), valid(cast))
    deal = TransferDeal.objects.get()
    url = reverse("transfers:deal_edit", args=[deal.pk])
    page = client.get(url)
    assert set(page.context["form"].fields).isdisjoint({"reference", "seller", "buyer"})
    client.post(
        url, valid(cast, reference="HIJACK", title="Renamed", buyer=str(cast.other_buyer_org.pk))
    )
    deal.refresh_from_db()
    assert (deal.reference, deal.title, deal.buyer) == ("D-1", "Renamed", cast.buyer_org)
