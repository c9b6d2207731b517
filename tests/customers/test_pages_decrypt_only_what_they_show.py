"""Pages decrypt only the fields they show (issue 3, "decrypt only the fields they show"):
each decryption of an encrypted field is counted where every field value is decrypted,
``EncryptedField.decrypt``, so a page that reads a masked or hidden field fails here even if
the template never prints it."""

from __future__ import annotations

from collections import Counter

import pytest
from django.urls import reverse

from customers.models import Interaction, PurchaseRecord
from customers.services import organization_grant
from transferdesk.crypto.fields import EncryptedField

pytestmark = pytest.mark.django_db


@pytest.fixture
def decrypted(monkeypatch) -> Counter:
    """``field name → count`` of the values decrypted while the test runs."""
    seen: Counter = Counter()
    real = EncryptedField.decrypt

    def counting(self, instance, ciphertext):
        if ciphertext is not None:
            seen[self.name] += 1
        return real(self, instance, ciphertext)

    monkeypatch.setattr(EncryptedField, "decrypt", counting)
    return seen


@pytest.fixture
def book(cast, make_customer):
    for permission in ("manage_customers", "reveal_core"):
        organization_grant(
            actor=cast.admin, user=cast.broker, organization=cast.seller, permission=permission
        )
    cast.customer = make_customer(
        organization=cast.seller,
        reference="C-1",
        full_name="Wang Fang",
        email="wang.fang@example.com",
        phone="+44 20 7946 0958",
        postal_address="1 Long Road",
        preferences="Calls after six",
        national_id="AB 123456 C",
        bank_account="GB29NWBK60161331926819",
        special_category_notes="Wheelchair user",
    )
    PurchaseRecord.objects.create(
        customer=cast.customer,
        purchased_on="2026-01-01",
        product="Kettle",
        amount="9.90",
        currency="CNY",
        notes="Gift wrap",
    )
    Interaction.objects.create(
        customer=cast.customer,
        occurred_on="2026-01-02",
        channel="chat",
        summary="Asked about delivery",
    )
    return cast


SENSITIVE = {"full_name", "email", "phone", "postal_address", "preferences"}
CORE = {"national_id", "bank_account", "special_category_notes"}


def test_the_masked_record_decrypts_the_sensitive_tier_and_no_core_field(book, client, decrypted):
    client.force_login(book.broker)
    page = client.get(reverse("customers:customer_detail", args=[book.customer.pk]))
    assert page.status_code == 200
    assert set(decrypted) == SENSITIVE | {"notes", "summary"}
    assert not CORE & set(decrypted)


def test_the_revealed_record_decrypts_the_core_tier_once(book, client, decrypted):
    client.force_login(book.broker)
    page = client.post(
        reverse("customers:customer_reveal", args=[book.customer.pk]), {"reason": "identity_check"}
    )
    assert page.status_code == 200
    assert {name: decrypted[name] for name in CORE} == dict.fromkeys(CORE, 1)


def test_compliance_pages_decrypt_nothing_at_all(book, client, decrypted):
    client.force_login(book.compliance)
    for url in (
        reverse("customers:customer_list", args=[book.seller.slug]),
        reverse("customers:customer_detail", args=[book.customer.pk]),
        reverse("customers:customer_history", args=[book.customer.pk]),
    ):
        assert client.get(url).status_code == 200
    assert decrypted == Counter()


def test_the_list_decrypts_names_only(book, client, decrypted, make_customer):
    for i in range(3):
        make_customer(organization=book.seller, national_id=f"N{i}", email=f"c{i}@example.com")
    client.force_login(book.broker)
    page = client.get(reverse("customers:customer_list", args=[book.seller.slug]))
    assert page.status_code == 200
    assert decrypted == Counter({"full_name": 4})


def test_searching_decrypts_only_the_names_of_the_rows_found(book, client, decrypted):
    client.force_login(book.broker)
    url = reverse("customers:customer_list", args=[book.seller.slug])
    page = client.get(url, {"q": " WANG.FANG@example.com"})
    assert [c.pk for c in page.context["page_obj"].object_list] == [book.customer.pk]
    assert decrypted == Counter({"full_name": 1})


def test_the_correction_form_decrypts_nothing(book, client, decrypted):
    client.force_login(book.broker)
    page = client.get(reverse("customers:customer_correct_core", args=[book.customer.pk]))
    assert page.status_code == 200
    assert decrypted == Counter()


def test_the_history_decrypts_core_values_only_when_revealed(book, client, decrypted):
    from customers.services import customer_correct_core

    customer_correct_core(
        actor=book.broker,
        customer=book.customer,
        values={"bank_account": "GB82 WEST 1234 5698 7654 32"},
        reason="entry_error",
    )
    decrypted.clear()
    client.force_login(book.broker)
    client.get(reverse("customers:customer_history", args=[book.customer.pk]))
    assert not CORE & set(decrypted)
    client.post(
        reverse("customers:customer_history_reveal", args=[book.customer.pk]),
        {"reason": "identity_check"},
    )
    assert decrypted["bank_account"] == 2  # the old and the new value of the one change
    assert not {"national_id", "special_category_notes"} & set(decrypted)
