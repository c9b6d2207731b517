"""A key's principal reaches only the models that opt in, and shared plumbing (history rows,
the trail) handles it as what it is: no user row."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from simple_history.models import HistoricalRecords

from customers.models import Customer, Organization
from tests.factories import CustomerFactory
from transferdesk.principals import ApiScope, MachinePrincipal
from transfers.models import HandoverStage, TransferDeal

pytestmark = pytest.mark.django_db


def principal(organization, scopes=tuple(ApiScope.values)):
    return MachinePrincipal(
        key_id="x", key_prefix="abcdefgh", organization=organization, scopes=frozenset(scopes)
    )


def test_models_without_a_machine_rule_are_closed_to_every_key(cast, deals):
    CustomerFactory(organization=cast.seller)
    key = principal(cast.seller)
    assert TransferDeal.objects.restrict(key, "view").count() == 2
    assert Customer.objects.restrict(key, "view").count() == 0
    assert Organization.objects.restrict(key, "view").count() == 0


@pytest.mark.parametrize("action", ["change", "plan", "approve", "portal"])
def test_a_key_holds_no_action_but_reading(cast, deals, action):
    key = principal(cast.seller)
    assert TransferDeal.objects.restrict(key, action).count() == 0
    assert HandoverStage.objects.restrict(key, action).count() == 0


def test_a_history_row_written_during_a_keyed_request_names_nobody(cast):
    request = RequestFactory().get("/api/v1/deals/")
    request.user = principal(cast.seller)
    HistoricalRecords.context.request = request
    try:
        customer = CustomerFactory(organization=cast.seller)
    finally:
        del HistoricalRecords.context.request
    assert customer.history.get().history_user is None
