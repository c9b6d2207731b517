"""Guarantee 5 for the customer book: organisation-level grants decide every read."""

from __future__ import annotations

import pytest

from customers.models import (
    Customer,
    Interaction,
    Organization,
    OrganizationUserObjectPermission,
    PurchaseRecord,
)
from customers.services import organization_grant, organization_revoke
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def books(cast, make_customer):
    other_seller = OrganizationFactory(slug="other-seller")
    mine = make_customer(organization=cast.seller, reference="MINE")
    theirs = make_customer(organization=other_seller, reference="THEIRS")
    for customer in (mine, theirs):
        PurchaseRecord.objects.create(
            customer=customer, purchased_on="2026-01-01", product="TV", amount="1", currency="GBP"
        )
        Interaction.objects.create(customer=customer, occurred_on="2026-01-01", channel="chat")
    organization_grant(
        actor=cast.admin, user=cast.broker, organization=cast.seller, permission="manage_customers"
    )
    return cast


def references(queryset) -> set[str]:
    return {c.reference for c in queryset}


def test_a_broker_reaches_the_customers_of_granted_organisations_only(books):
    assert references(Customer.objects.restrict(books.broker, "view")) == {"MINE"}
    purchases = PurchaseRecord.objects.restrict(books.broker, "view")
    assert {p.customer.reference for p in purchases} == {"MINE"}
    interactions = Interaction.objects.restrict(books.broker, "view")
    assert {i.customer.reference for i in interactions} == {"MINE"}
    assert not Customer.objects.restrict(books.broker, "reveal").exists()


def test_superusers_and_ungranted_brokers_reach_nothing(books):
    assert not Customer.objects.restrict(books.admin, "view").exists()
    assert not Customer.objects.restrict(books.other_broker, "view").exists()
    assert not Customer.objects.restrict(None, "view").exists()


def test_compliance_views_every_book_but_may_not_change_reveal_or_import(books):
    assert references(Customer.objects.restrict(books.compliance, "view")) == {"MINE", "THEIRS"}
    for action in ("change", "reveal", "import"):
        assert not Customer.objects.restrict(books.compliance, action).exists()


def test_an_unknown_action_reaches_nothing(books):
    assert not Customer.objects.restrict(books.broker, "delete").exists()


def test_revoking_removes_access_at_once(books):
    organization_revoke(
        actor=books.admin,
        user=books.broker,
        organization=books.seller,
        permission="manage_customers",
    )
    assert not Customer.objects.restrict(books.broker, "view").exists()


def test_a_grant_given_twice_is_recorded_once(books):
    assert not organization_grant(
        actor=books.admin,
        user=books.broker,
        organization=books.seller,
        permission="manage_customers",
    )


def test_grants_are_direct_foreign_key_rows_that_go_with_their_organisation(cast):
    organization = OrganizationFactory(slug="short-lived")
    organization_grant(
        actor=cast.admin, user=cast.broker, organization=organization, permission="reveal_core"
    )
    grant = OrganizationUserObjectPermission.objects.get()
    assert grant.content_object == organization
    Organization.objects.filter(pk=organization.pk).delete()
    assert not OrganizationUserObjectPermission.objects.exists()


def test_customer_objects_offers_both_the_door_and_the_key_join(books):
    customers = Customer.objects.with_data_keys().restrict(books.broker, "view")
    assert customers.get().full_name
