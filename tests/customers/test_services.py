from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError

from customers.models import Customer
from customers.services import customer_create, customer_mark_verified, customer_update
from tests.factories import UserFactory
from transferdesk.trail import AuditEvent

pytestmark = pytest.mark.django_db


def events_for(customer: Customer) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(object_id=str(customer.pk)).order_by("seq"))


def test_creating_a_customer_gives_it_its_own_data_key_and_an_audit_event(make_customer):
    first = make_customer(full_name="First Person", email="first@example.com")
    second = make_customer(full_name="Second Person")
    assert first.data_key_id != second.data_key_id
    assert first.data_key.purpose == "customer"
    [event] = events_for(first)
    assert event.action == "create"
    assert event.object_type == "customers.customer"
    assert "First Person" not in str(event.details) and "first@" not in str(event.details)


def test_a_duplicate_email_in_the_same_organisation_is_a_readable_validation_error(
    make_customer,
):
    make_customer(email="dup@example.com")
    with pytest.raises(ValidationError) as excinfo:
        make_customer(email=" DUP@example.com")
    assert "Another customer of this organisation has this e-mail address." in str(excinfo.value)
    assert "dup@" not in str(excinfo.value).lower()


def test_the_same_email_may_exist_in_another_organisation(make_customer):
    from tests.factories import OrganizationFactory

    make_customer(email="same@example.com")
    other = OrganizationFactory(slug="second-seller", country="GB")
    assert make_customer(organization=other, email="same@example.com").email


def test_a_duplicate_national_id_is_refused_whatever_its_spacing(make_customer):
    make_customer(national_id="AB 123456 C")
    with pytest.raises(ValidationError, match="national id number"):
        make_customer(national_id="ab123456c")


def test_a_duplicate_reference_is_refused(make_customer):
    make_customer(reference="R-1")
    with pytest.raises(ValidationError, match="already has a customer with this reference"):
        make_customer(reference="R-1")


def test_an_unreadable_phone_is_reported_on_the_phone_field(make_customer):
    with pytest.raises(ValidationError) as excinfo:
        make_customer(phone="call me maybe")
    assert list(excinfo.value.message_dict) == ["phone"]


def test_unknown_fields_are_refused(make_customer):
    with pytest.raises(ValidationError) as excinfo:
        make_customer(shoe_size="42")
    assert "shoe_size" in excinfo.value.message_dict


def test_updating_writes_only_changed_fields_and_names_them_in_the_audit_event(make_customer):
    broker = UserFactory(username="vault-broker")
    customer = make_customer(full_name="Up Date", email="up@example.com", segment="retail")
    customer_update(
        actor=broker,
        customer=customer,
        values={"email": "UP2@example.com", "segment": "retail", "full_name": "Up Date"},
    )
    event = events_for(customer)[-1]
    assert event.action == "update"
    assert event.details["fields"] == ["email"]
    assert event.details["tiers"] == ["sensitive"]
    assert event.actor == broker
    fresh = Customer.objects.get(pk=customer.pk)
    assert fresh.email == "UP2@example.com"
    assert fresh.history.first().history_user == broker
    # the blind index followed the e-mail
    from customers.selectors import customer_find_by_email

    assert customer_find_by_email(organization=customer.organization, email="up2@example.com")
    assert not customer_find_by_email(organization=customer.organization, email="up@example.com")


def test_an_update_that_changes_nothing_writes_nothing(make_customer):
    customer = make_customer(full_name="Same Same")
    history = customer.history.count()
    customer_update(
        actor=None, customer=Customer.objects.get(pk=customer.pk), values={"full_name": "Same Same"}
    )
    assert customer.history.count() == history
    assert len(events_for(customer)) == 1


def test_an_update_to_an_email_taken_by_another_customer_is_refused(make_customer):
    make_customer(email="taken@example.com")
    customer = make_customer(email="mine@example.com")
    with pytest.raises(ValidationError, match="has this e-mail address"):
        customer_update(actor=None, customer=customer, values={"email": "taken@example.com"})


def test_marking_verified_records_the_date_and_an_event(make_customer):
    customer = make_customer(full_name="Veri Fied")
    customer_mark_verified(actor=None, customer=customer, on=datetime.date(2026, 11, 1))
    assert Customer.objects.get(pk=customer.pk).last_verified_on == datetime.date(2026, 11, 1)
    assert events_for(customer)[-1].details == {"fields": ["last_verified_on"], "verified": True}


def test_a_failed_create_leaves_no_data_key_behind(seller):
    from transferdesk.models import DataKey

    with pytest.raises(ValidationError):
        customer_create(actor=None, organization=seller, values={"reference": "X"})
    assert not DataKey.objects.exists()


def test_clearing_an_already_empty_field_is_not_a_change(make_customer):
    customer = make_customer(full_name="Blank Fields")
    fresh = Customer.objects.get(pk=customer.pk)
    customer_update(actor=None, customer=fresh, values={"bank_account": "", "email": ""})
    assert len(events_for(customer)) == 1


def test_clearing_a_field_stores_null_and_empties_its_index(make_customer):
    customer = make_customer(full_name="Clear Me", email="clear@example.com")
    customer_update(actor=None, customer=customer, values={"email": ""})
    row = Customer.objects.filter(pk=customer.pk).values("email", "email_bidx").get()
    assert row == {"email": None, "email_bidx": ""}
    assert Customer.objects.get(pk=customer.pk).email == ""
