"""The import's bulk writer (COPY on PostgreSQL, ``executemany`` elsewhere): rows built without
model instances must be exactly what the models would have written — ciphertext bound to its
place, history with the same ciphertext, blind indexes that search finds, values that survive
the COPY text format — and the import stays all or nothing across chunks."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from customers import bulk, importing
from customers.models import Customer, Interaction, PurchaseRecord
from customers.selectors import (
    customer_find_by_email,
    customer_find_by_national_id,
    customer_find_by_phone,
)
from customers.services import customer_import
from transferdesk.crypto.errors import DecryptionError
from transferdesk.crypto.fields import EncryptedField, raw_ciphertext
from transferdesk.models import DataKey

pytestmark = pytest.mark.django_db

HEADER = [
    "reference",
    "full_name",
    "email",
    "phone",
    "postal_address",
    "preferences",
    "national_id",
    "bank_account",
    "special_category_notes",
    "city",
    "segment",
    "customer_since",
    "purchase_date",
    "purchase_product",
    "purchase_amount",
    "purchase_currency",
    "purchase_notes",
    "interaction_date",
    "interaction_channel",
    "interaction_summary",
]
ROWS = [
    [
        "B-1",
        "王小明",
        "Wang.XM@Example.cn",
        "138 0013 8000",
        "上海市\t浦东新区\n世纪大道1号",
        "calls after 18:00",
        "11010519491231002x",
        "6222 0000 1111",
        "diabetic",
        "上海",
        "零售",
        "2020-01-05",
        "2025-03-01",
        "Washer",
        "1999.50",
        "CNY",
        "paid in cash",
        "2025-03-02",
        "微信",
        "asked about delivery",
    ],
    [
        "B-2\\N",
        "Anna Smith",
        "anna@example.com",
        "+44 20 7946 0958",
        "",
        "",
        "",
        "",
        "",
        "back\\slash\r\ncity\\N",
        "tab\tseg",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
    ],
]


def csv_bytes(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def test_imported_rows_decrypt_to_the_file_s_values_and_history_holds_the_same_ciphertext(
    seller,
):
    outcome = customer_import(actor=None, organization=seller, data=csv_bytes(ROWS))
    assert outcome.applied, outcome.problems
    assert (outcome.customers, outcome.purchases, outcome.interactions) == (2, 1, 1)
    wang = Customer.objects.get(reference="B-1")
    expected = {
        "full_name": "王小明",
        "email": "Wang.XM@Example.cn",
        "phone": "+8613800138000",
        "postal_address": "上海市\t浦东新区\n世纪大道1号",
        "preferences": "calls after 18:00",
        "national_id": "11010519491231002X",
        "bank_account": "6222 0000 1111",
        "special_category_notes": "diabetic",
    }
    assert {name: getattr(wang, name) for name in expected} == expected
    assert (wang.city, wang.segment, str(wang.customer_since)) == ("上海", "零售", "2020-01-05")
    assert wang.status == "active" and wang.created_at == wang.updated_at
    purchase = PurchaseRecord.objects.get(customer=wang)
    assert (purchase.product, str(purchase.amount), purchase.notes) == (
        "Washer",
        "1999.50",
        "paid in cash",
    )
    interaction = Interaction.objects.get(customer=wang)
    assert (interaction.channel, interaction.summary) == ("chat", "asked about delivery")
    # One data key per customer, wrapped under the master key and unwrapping as stored.
    assert DataKey.objects.get(pk=wang.data_key_id).unwrap() == wang.data_key.unwrap()
    assert DataKey.objects.filter(customer__organization=seller).count() == 2
    # History: one "created" row per record, the live row's very ciphertext, readable.
    for model, obj in ((Customer, wang), (PurchaseRecord, purchase), (Interaction, interaction)):
        history = model.history.get(id=obj.pk)
        assert history.history_type == "+"
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedField):
                with raw_ciphertext():
                    assert getattr(history, field.attname) == getattr(obj, field.attname)
        assert history.instance.pk == obj.pk
    assert Customer.history.get(id=wang.pk).instance.national_id == "11010519491231002X"


def test_imported_ciphertext_is_bound_to_its_customer_and_field(seller):
    customer_import(actor=None, organization=seller, data=csv_bytes(ROWS))
    wang, anna = Customer.objects.get(reference="B-1"), Customer.objects.get(reference="B-2\\N")
    with raw_ciphertext():
        stolen = wang.full_name
    # Onto another customer: another key and another primary key.
    Customer.objects.filter(pk=anna.pk).update(full_name=stolen)
    with pytest.raises(DecryptionError, match="does not belong here"):
        _ = Customer.objects.get(pk=anna.pk).full_name
    # Onto another field of the same customer: same key, other associated data.
    Customer.objects.filter(pk=wang.pk).update(preferences=stolen)
    with pytest.raises(DecryptionError, match="does not belong here"):
        _ = Customer.objects.get(pk=wang.pk).preferences


def test_imported_customers_are_found_by_each_blind_index_typed_another_way(seller):
    customer_import(actor=None, organization=seller, data=csv_bytes(ROWS))
    wang = Customer.objects.get(reference="B-1")
    assert customer_find_by_email(organization=seller, email=" wang.xm@EXAMPLE.CN ") == wang
    assert customer_find_by_phone(organization=seller, phone="+86 138-0013-8000") == wang
    assert customer_find_by_phone(organization=seller, phone="13800138000") == wang
    assert customer_find_by_national_id(organization=seller, national_id="110105 1949 1231 002X")
    anna = customer_find_by_phone(organization=seller, phone="+442079460958")
    assert anna is not None and anna.reference == "B-2\\N"
    # The import's digests are those the model computes for the same values.
    fresh = Customer(organization=seller, phone="+8613800138000", email="wang.xm@example.cn")
    fresh.clean()
    assert (wang.phone_bidx, wang.email_bidx) == (fresh.phone_bidx, fresh.email_bidx)


def test_plain_values_with_tabs_backslashes_and_line_breaks_survive_the_copy(seller):
    customer_import(actor=None, organization=seller, data=csv_bytes(ROWS))
    anna = Customer.objects.get(reference="B-2\\N")
    assert anna.city == "back\\slash\r\ncity\\N"
    assert anna.segment == "tab\tseg"
    assert anna.postal_address == "" and anna.customer_since is None
    assert Customer.objects.filter(pk=anna.pk).values_list("national_id", flat=True).get() is None


def test_a_problem_in_a_later_chunk_rolls_back_the_chunks_already_written(seller, monkeypatch):
    monkeypatch.setattr(importing, "CHUNK_ROWS", 2)
    rows = [[f"C-{i}", f"Name {i}", f"c{i}@example.com"] for i in range(5)]
    rows.append(["C-0", "Duplicate", "dup@example.com"])
    outcome = customer_import(
        actor=None,
        organization=seller,
        data=csv_bytes(rows, ["reference", "full_name", "email"]),
    )
    assert not outcome.applied
    assert [(p.row, p.column) for p in outcome.problems] == [(7, "reference")]
    assert not Customer.objects.exists()
    assert not Customer.history.exists()
    assert not DataKey.objects.exists()


def test_a_file_that_breaks_after_chunks_were_sent_leaves_nothing(seller, monkeypatch):
    # The CSV reader fails on row 7 (a field above its size limit) while earlier chunks may
    # still be on their way to the database: the writer waits for them, then all rolls back.
    monkeypatch.setattr(importing, "CHUNK_ROWS", 2)
    rows = [[f"F-{i}", f"Name {i}", f"f{i}@example.com"] for i in range(5)]
    rows.append(["F-5", "x" * 200_000, "big@example.com"])
    outcome = customer_import(
        actor=None, organization=seller, data=csv_bytes(rows, ["reference", "full_name", "email"])
    )
    assert not outcome.applied
    assert [p.row for p in outcome.problems] == [importing.FILE_LEVEL]
    assert not Customer.objects.exists() and not DataKey.objects.exists()
    assert not Customer.history.exists()


def test_a_large_import_writes_every_row_in_chunks(seller, monkeypatch):
    monkeypatch.setattr(importing, "CHUNK_ROWS", 7)
    rows = [[f"L-{i:03d}", f"Name {i}", f"l{i}@example.com", f"1380013{i:04d}"] for i in range(40)]
    outcome = customer_import(
        actor=None,
        organization=seller,
        data=csv_bytes(rows, ["reference", "full_name", "email", "phone"]),
    )
    assert outcome.applied and outcome.customers == 40
    assert Customer.objects.filter(organization=seller).count() == 40
    assert Customer.history.count() == 40
    last = customer_find_by_phone(organization=seller, phone="138 0013 0039")
    assert last is not None and last.full_name == "Name 39"


@pytest.mark.postgres
def test_a_unique_violation_inside_a_copy_is_django_s_integrity_error_on_closing(
    seller, make_customer
):
    taken = make_customer(reference="TAKEN")
    table = bulk.Table(
        Customer, given=("id", "organization_id", "data_key_id", "created_at", "updated_at")
    )
    key = DataKey.build(purpose="customer")
    key.save()
    now = timezone.now()
    row = table.row(
        key.unwrap(),
        {
            "id": uuid.uuid4(),
            "organization_id": seller.pk,
            "data_key_id": key.pk,
            "reference": taken.reference,
            "full_name": "Someone",
            "created_at": now,
            "updated_at": now,
        },
    )
    assert connection.vendor == "postgresql"
    with pytest.raises(IntegrityError), transaction.atomic(), bulk.Sink() as sink:
        sink.write([(table, [row], None)])  # sent by the helper thread; its error comes here


@pytest.mark.postgres
def test_foreign_keys_are_still_enforced_when_checked_at_each_copy(seller):
    table = bulk.Table(
        Customer, given=("id", "organization_id", "data_key_id", "created_at", "updated_at")
    )
    now = timezone.now()
    row = table.row(
        bytes(32),
        {
            "id": uuid.uuid4(),
            "organization_id": seller.pk,
            "data_key_id": uuid.uuid4(),  # no such data key
            "reference": "ORPHAN",
            "full_name": "Nobody",
            "created_at": now,
            "updated_at": now,
        },
    )
    with pytest.raises(IntegrityError, match="data_key"), transaction.atomic(), bulk.Sink() as s:
        s.write([(table, [row], None)])


def test_a_row_with_a_value_but_no_blind_index_is_refused(seller):
    table = bulk.Table(
        Customer, given=("id", "organization_id", "data_key_id", "created_at", "updated_at")
    )
    with pytest.raises(ValueError, match="email_bidx"):
        table.row(bytes(32), {"id": uuid.uuid4(), "email": "a@example.com"})


def test_a_column_the_model_does_not_have_is_refused():
    table = bulk.Table(PurchaseRecord, given=("id", "customer_id", "created_at"))
    with pytest.raises(ValueError, match="purchase_notes"):
        table.row(bytes(32), {"id": uuid.uuid4(), "purchase_notes": "x"})


def test_a_per_row_default_must_be_given_rather_than_shared_by_every_row():
    with pytest.raises(ValueError, match="created_at"):
        bulk.Table(PurchaseRecord, given=("id", "customer_id"))
