"""A customer corrects their own e-mail address on their page, typed with a Chinese input
method (full-width): the vault stores the ASCII form and search finds it both ways."""

from __future__ import annotations

import pytest

from customers.models import Customer
from customers.selectors import customer_find_by_email, customer_search
from transfers import notices
from transfers.notice_models import DataSubjectRequest, RequestStatus

from .conftest import customers_of

pytestmark = pytest.mark.django_db

FULL_WIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})


def test_a_full_width_correction_from_the_customer_page_is_stored_and_found_normalised(
    cast, deal, client
):
    customer, _ = customers_of(cast.seller)
    link = notices.link_issue(actor=None, deal=deal, customer=customer)
    typed = "LI.HUA@EXAMPLE.CN".translate(FULL_WIDTH)
    response = client.post(
        f"/n/{notices.link_token(link)}/act/",
        {"action": "correct", "field_name": "email", "requested_value": typed},
    )
    assert response.status_code == 302
    dsr = DataSubjectRequest.objects.get(customer=customer)
    assert dsr.requested_value == "LI.HUA@EXAMPLE.CN"

    client.force_login(cast.compliance)
    client.post(f"/requests/{dsr.pk}/fulfil/", {"note": "done"})
    dsr.refresh_from_db()
    assert dsr.status == RequestStatus.FULFILLED
    fresh = Customer.objects.get(pk=customer.pk)
    assert fresh.email == "LI.HUA@EXAMPLE.CN"
    for query in ("li.hua@example.cn", typed):
        assert customer_find_by_email(organization=cast.seller, email=query) == fresh
        assert list(customer_search(organization=cast.seller, query=query)) == [fresh]
