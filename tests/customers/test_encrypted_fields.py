from __future__ import annotations

import logging
import pickle

import pytest
from django.core.exceptions import ValidationError

from customers.models import Customer, PurchaseRecord
from transferdesk.crypto import aead
from transferdesk.crypto.errors import (
    CryptoError,
    DataKeyDestroyed,
    DecryptionError,
    PlaintextInQuery,
)
from transferdesk.crypto.fields import Ciphertext, raw_ciphertext

pytestmark = pytest.mark.django_db


def stored(model, pk, field: str) -> Ciphertext | None:
    """The column as stored, read without going through the model's attribute."""
    return model.objects.filter(pk=pk).values_list(field, flat=True).get()


def test_encrypted_values_read_back_after_a_round_trip_through_the_database(make_customer):
    customer = make_customer(
        full_name="王小明",
        email="wang@example.cn",
        phone="+86 138 0013 8000",
        national_id="11010519491231002X",
        preferences="Prefers calls after 18:00",
    )
    fresh = Customer.objects.get(pk=customer.pk)
    assert fresh.full_name == "王小明"
    assert fresh.email == "wang@example.cn"
    assert fresh.phone == "+8613800138000"  # stored in E.164
    assert fresh.national_id == "11010519491231002X"
    assert fresh.preferences == "Prefers calls after 18:00"
    assert fresh.bank_account == ""


def test_the_column_holds_versioned_ciphertext_not_the_value(make_customer):
    customer = make_customer(full_name="Ada Lovelace")
    raw = stored(Customer, customer.pk, "full_name")
    assert isinstance(raw, Ciphertext)
    assert raw[0] == aead.VERSION
    assert b"Ada" not in raw
    assert stored(Customer, customer.pk, "bank_account") is None  # empty is NULL


def test_loading_a_customer_decrypts_nothing_until_a_field_is_read(make_customer):
    customer = make_customer(full_name="Grace Hopper", email="grace@example.com")
    customer.data_key.destroy()
    fresh = Customer.objects.select_related("organization").get(pk=customer.pk)
    assert fresh.reference == customer.reference  # general fields need no key
    assert str(fresh) == customer.reference
    with pytest.raises(DataKeyDestroyed):
        _ = fresh.full_name


def test_ciphertext_copied_to_another_customer_does_not_decrypt(make_customer):
    alice = make_customer(full_name="Alice Example", email="alice@example.com")
    bob = make_customer(full_name="Bob Example", email="bob@example.com")
    Customer.objects.filter(pk=bob.pk).update(email=stored(Customer, alice.pk, "email"))
    with pytest.raises(DecryptionError) as excinfo:
        _ = Customer.objects.get(pk=bob.pk).email
    assert str(excinfo.value) == (
        f"cannot decrypt customers.Customer.email of {bob.pk}: "
        "ciphertext does not belong here or the key is wrong"
    )
    assert "alice" not in str(excinfo.value).lower()


def test_ciphertext_copied_to_another_field_of_the_same_customer_does_not_decrypt(
    make_customer,
):
    customer = make_customer(full_name="Carol Example", national_id="X1234567")
    Customer.objects.filter(pk=customer.pk).update(
        bank_account=stored(Customer, customer.pk, "national_id")
    )
    with pytest.raises(DecryptionError, match=r"customers\.Customer\.bank_account of"):
        _ = Customer.objects.get(pk=customer.pk).bank_account


def test_an_unchanged_value_keeps_its_ciphertext_on_save(make_customer):
    customer = make_customer(full_name="Dan Example", email="dan@example.com")
    before = stored(Customer, customer.pk, "email")
    fresh = Customer.objects.get(pk=customer.pk)
    fresh.email = "dan@example.com"  # same value
    fresh.segment = "retail"
    fresh.save()
    assert stored(Customer, customer.pk, "email") == before
    fresh.email = "daniel@example.com"
    fresh.save()
    assert stored(Customer, customer.pk, "email") != before


def test_deferred_encrypted_fields_load_on_access(make_customer):
    customer = make_customer(full_name="Eve Example", postal_address="1 Main St")
    fresh = Customer.objects.only("id", "organization", "data_key").get(pk=customer.pk)
    assert "postal_address" in fresh.get_deferred_fields()
    assert fresh.postal_address == "1 Main St"


def test_refresh_from_db_reloads_without_marking_fields_changed(make_customer):
    customer = make_customer(full_name="Frank Example")
    before = stored(Customer, customer.pk, "full_name")
    customer.refresh_from_db()
    assert customer.full_name == "Frank Example"
    customer.save()
    assert stored(Customer, customer.pk, "full_name") == before


def test_repr_str_and_pickles_never_show_a_decrypted_value(make_customer):
    customer = make_customer(full_name="Zhang Sentinelname", email="zs@example.com")
    _ = customer.full_name
    assert "Sentinelname" not in repr(customer)
    assert "Sentinelname" not in str(customer)
    assert "Sentinelname" not in repr(customer.__dict__)
    assert b"Sentinelname" not in pickle.dumps(customer)
    assert pickle.loads(pickle.dumps(customer)).full_name == "Zhang Sentinelname"  # noqa: S301


def test_encrypted_fields_cannot_be_searched_or_bulk_written_with_plaintext(make_customer):
    make_customer(full_name="Gina Example")
    with pytest.raises(PlaintextInQuery, match="blind index"):
        list(Customer.objects.filter(full_name="Gina Example"))
    with pytest.raises(PlaintextInQuery):
        Customer.objects.update(full_name="Somebody")


def test_validation_applies_to_the_plaintext(make_customer):
    with pytest.raises(ValidationError) as excinfo:
        make_customer(full_name="x" * 256, email="not-an-email")
    assert set(excinfo.value.message_dict) == {"full_name", "email"}
    assert "x" * 256 not in str(excinfo.value)


def test_purchase_notes_use_the_customers_data_key(make_customer):
    customer = make_customer(full_name="Hana Example")
    record = PurchaseRecord.objects.create(
        customer=customer,
        purchased_on="2026-01-05",
        product="Fridge",
        amount="399.00",
        currency="CNY",
        notes="Deliver to back door",
    )
    assert PurchaseRecord.objects.get(pk=record.pk).notes == "Deliver to back door"
    customer.data_key.destroy()
    with pytest.raises(DataKeyDestroyed):
        _ = PurchaseRecord.objects.get(pk=record.pk).notes


def test_a_customer_without_a_data_key_cannot_be_saved_with_encrypted_values(seller):
    customer = Customer(organization=seller, reference="NOKEY", full_name="No Key")
    with pytest.raises(CryptoError, match="has no data key"):
        customer.save()


def test_raw_mode_reads_ciphertext_for_copying(make_customer):
    customer = make_customer(full_name="Ivy Example")
    with raw_ciphertext():
        value = customer.full_name
    assert isinstance(value, Ciphertext)
    assert "Ivy" not in repr(value)


def test_decryption_failures_log_nothing_personal(make_customer, caplog):
    caplog.set_level(logging.DEBUG)
    alice = make_customer(full_name="Alice Logcheck")
    bob = make_customer(full_name="Bob Logcheck")
    Customer.objects.filter(pk=bob.pk).update(full_name=stored(Customer, alice.pk, "full_name"))
    with pytest.raises(DecryptionError):
        _ = Customer.objects.get(pk=bob.pk).full_name
    assert "Logcheck" not in caplog.text


def test_the_shared_factory_makes_encrypted_searchable_customers():
    from customers.selectors import customer_find_by_email
    from tests.factories import CustomerFactory

    customer = CustomerFactory(email="Factory@Example.test")
    assert Customer.objects.get(pk=customer.pk).email == "Factory@Example.test"
    found = customer_find_by_email(organization=customer.organization, email="factory@example.test")
    assert found == customer


def test_a_model_form_edits_encrypted_fields_as_text(make_customer):
    from django import forms

    class CustomerForm(forms.ModelForm):
        class Meta:
            model = Customer
            fields = ["full_name", "email", "postal_address"]

    customer = make_customer(full_name="Form Person", email="form@example.com")
    form = CustomerForm(instance=Customer.objects.get(pk=customer.pk))
    assert form.initial["full_name"] == "Form Person"
    assert isinstance(form.fields["postal_address"].widget, forms.Textarea)
    bound = CustomerForm(
        {"full_name": "Form Person", "email": "bad", "postal_address": ""},
        instance=Customer.objects.get(pk=customer.pk),
    )
    assert not bound.is_valid()
    assert list(bound.errors) == ["email"]


def test_serialised_customers_carry_ciphertext_not_text(make_customer):
    from django.core import serializers

    customer = make_customer(full_name="Serial Sentinel", email="serial@example.com")
    dumped = serializers.serialize("json", Customer.objects.filter(pk=customer.pk))
    assert "Serial Sentinel" not in dumped
    assert "serial@example.com" not in dumped
