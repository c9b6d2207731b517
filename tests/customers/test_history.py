from __future__ import annotations

import pytest

from customers.models import Customer, Interaction
from customers.services import customer_update
from transferdesk.crypto.errors import DataKeyDestroyed
from transferdesk.crypto.fields import Ciphertext

pytestmark = pytest.mark.django_db


def live_ciphertext(customer: Customer, field: str) -> Ciphertext:
    return Customer.objects.filter(pk=customer.pk).values_list(field, flat=True).get()


def history_ciphertexts(customer: Customer, field: str) -> list[Ciphertext]:
    return list(
        Customer.history.filter(id=customer.pk)
        .order_by("history_date", "history_id")
        .values_list(field, flat=True)
    )


def test_each_history_row_holds_the_live_rows_ciphertext_of_its_time(make_customer):
    customer = make_customer(full_name="Before Name", email="before@example.com")
    first_name, first_email = (
        live_ciphertext(customer, "full_name"),
        live_ciphertext(customer, "email"),
    )
    customer_update(actor=None, customer=customer, values={"email": "after@example.com"})
    second_email = live_ciphertext(customer, "email")

    assert history_ciphertexts(customer, "email") == [first_email, second_email]
    # The name did not change: both history rows carry the very same ciphertext.
    assert history_ciphertexts(customer, "full_name") == [first_name, first_name]
    assert live_ciphertext(customer, "full_name") == first_name


def test_history_rows_decrypt_with_the_original_models_associated_data(make_customer):
    customer = make_customer(full_name="Old Name", national_id="AB123456")
    customer_update(actor=None, customer=customer, values={"full_name": "New Name"})
    old, new = Customer.history.filter(id=customer.pk).order_by("history_date", "history_id")
    assert (old.full_name, new.full_name) == ("Old Name", "New Name")
    assert old.national_id == new.national_id == "AB123456"
    # ...and the rebuilt instance of a history row reads the same values.
    assert old.instance.full_name == "Old Name"
    assert isinstance(old.instance, Customer)


def test_history_diffs_name_changed_fields_by_comparing_ciphertext(make_customer):
    customer = make_customer(full_name="Diff Name", email="diff@example.com")
    customer_update(
        actor=None, customer=customer, values={"email": "diff2@example.com", "segment": "vip"}
    )
    from transferdesk.crypto.fields import raw_ciphertext

    new, old = Customer.history.filter(id=customer.pk)[:2]
    with raw_ciphertext():
        delta = new.diff_against(old)
    assert set(delta.changed_fields) >= {"email", "segment"}
    assert "full_name" not in delta.changed_fields


def test_destroying_the_data_key_makes_live_and_history_rows_unreadable(make_customer):
    customer = make_customer(full_name="Shredded Name", email="shred@example.com")
    customer_update(actor=None, customer=customer, values={"segment": "gold"})
    customer.data_key.destroy()

    with pytest.raises(DataKeyDestroyed) as excinfo:
        _ = Customer.objects.get(pk=customer.pk).full_name
    assert str(excinfo.value).startswith(
        f"cannot decrypt customers.Customer.full_name of {customer.pk}: "
        f"data key {customer.data_key_id} was destroyed"
    )
    rows = list(Customer.history.filter(id=customer.pk))
    assert len(rows) == 2
    for row in rows:
        with pytest.raises(
            DataKeyDestroyed, match=f"customers.Customer.full_name of {customer.pk}"
        ):
            _ = row.full_name
        assert str(row)  # the history list still renders (reference and date, no values)


def test_a_customer_whose_key_is_destroyed_can_still_be_marked_and_keeps_history(
    make_customer,
):
    customer = make_customer(full_name="Erased Person")
    customer.data_key.destroy()
    fresh = Customer.objects.get(pk=customer.pk)
    fresh.status = "erased"
    fresh.save(update_fields=["status"])
    latest = Customer.history.filter(id=customer.pk).first()
    assert latest.status == "erased"
    with pytest.raises(DataKeyDestroyed):
        _ = latest.full_name


def test_interaction_history_is_encrypted_under_the_customers_key(make_customer):
    customer = make_customer(full_name="Ivan Example")
    interaction = Interaction.objects.create(
        customer=customer, occurred_on="2026-02-01", channel="phone", summary="Asked for refund"
    )
    interaction.summary = "Asked for a refund of the fridge"
    interaction.save()
    rows = list(Interaction.history.filter(id=interaction.pk).order_by("history_date"))
    assert [r.summary for r in rows] == ["Asked for refund", "Asked for a refund of the fridge"]
    live = Interaction.objects.filter(pk=interaction.pk).values_list("summary", flat=True).get()
    assert (
        Interaction.history.filter(id=interaction.pk).values_list("summary", flat=True).first()
        == live
    )


def test_bulk_creation_with_history_stores_the_same_ciphertext_and_indexes(seller):
    from customers.selectors import customer_find_by_phone
    from transferdesk.crypto.history import bulk_create_with_encrypted_history
    from transferdesk.models import DataKey, DataKeyPurpose

    keys = DataKey.objects.bulk_create(
        [DataKey.build(purpose=DataKeyPurpose.CUSTOMER) for _ in range(3)]
    )
    customers = [
        Customer(
            organization=seller,
            reference=f"BULK-{i}",
            data_key=key,
            full_name=f"Bulk {i}",
            phone=f"1390000000{i}",
        )
        for i, key in enumerate(keys)
    ]
    bulk_create_with_encrypted_history(customers, Customer)
    for customer in customers:
        assert history_ciphertexts(customer, "full_name") == [
            live_ciphertext(customer, "full_name")
        ]
        assert Customer.history.get(id=customer.pk).full_name == customer.full_name
    assert customer_find_by_phone(organization=seller, phone="+86 139 0000 0001") == customers[1]


def test_the_history_tab_names_changed_fields_and_shows_values_of_visible_tiers_only(
    make_customer,
):
    from customers.selectors import customer_history

    customer = make_customer(full_name="Tab Person", national_id="TAB0001", segment="a")
    customer_update(
        actor=None,
        customer=customer,
        values={"full_name": "Tab Person II", "national_id": "TAB0002", "segment": "b"},
    )
    newest, created = customer_history(customer=customer, visible_tiers=["general", "sensitive"])
    assert created.kind == "+" and created.changes == []
    by_field = {c.field: c for c in newest.changes}
    assert set(by_field) == {"full_name", "national_id", "segment"}
    assert (by_field["full_name"].old, by_field["full_name"].new) == ("Tab Person", "Tab Person II")
    assert (by_field["segment"].old, by_field["segment"].new) == ("a", "b")
    core = by_field["national_id"]
    assert (core.visible, core.old, core.new) == (False, None, None)


def test_the_history_tab_lists_changes_after_the_key_is_destroyed(make_customer):
    from customers.selectors import customer_history

    customer = make_customer(full_name="Gone Person", segment="a")
    customer_update(actor=None, customer=customer, values={"full_name": "Gone", "segment": "b"})
    customer.data_key.destroy()
    [newest, _] = customer_history(customer=customer, visible_tiers=["general"])
    assert {c.field for c in newest.changes} == {"full_name", "segment"}


def test_the_history_tab_is_paginated_and_a_page_boundary_keeps_each_entrys_changes(
    make_customer, cast, client, monkeypatch
):
    from django.urls import reverse

    from customers import views
    from customers.services import organization_grant

    monkeypatch.setattr(views, "HISTORY_PAGE", 3)
    organization_grant(
        actor=cast.admin, user=cast.broker, organization=cast.seller, permission="manage_customers"
    )
    customer = make_customer(organization=cast.seller, segment="s0")
    for i in range(1, 5):  # five rows: created, then s1 … s4
        customer_update(actor=None, customer=customer, values={"segment": f"s{i}"})
    client.force_login(cast.broker)
    url = reverse("customers:customer_history", args=[customer.pk])
    first = client.get(url).context
    assert [[(c.old, c.new) for c in e.changes] for e in first["entries"]] == [
        [("s3", "s4")],
        [("s2", "s3")],
        [("s1", "s2")],  # diffed against the first row of the next page
    ]
    second = client.get(url, {"page": 2}).context
    assert [e.kind for e in second["entries"]] == ["~", "+"]
    assert [(c.old, c.new) for c in second["entries"][0].changes] == [("s0", "s1")]
    assert second["page_obj"].paginator.count == 5
