from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from customers.selectors import (
    NO_SUBSTRING_SEARCH,
    customer_find_by_email,
    customer_find_by_national_id,
    customer_find_by_phone,
    customer_search,
)
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def wang(make_customer) -> Customer:
    return make_customer(
        full_name="王小明 Wang Xiaoming",
        email="Wang.Xiaoming@Example.cn",
        phone="13800138000",  # local format, read in the seller's country (CN)
        national_id="11010519491231002X",
    )


def test_an_email_typed_in_another_case_or_with_spaces_finds_the_customer(seller, wang):
    for typed in [
        "wang.xiaoming@example.cn",
        "  WANG.XIAOMING@EXAMPLE.CN ",
        "Wang.Xiaoming@Example.cn",
    ]:
        assert customer_find_by_email(organization=seller, email=typed) == wang


def test_a_phone_typed_in_another_format_finds_the_customer(seller, wang):
    for typed in ["+86 138 0013 8000", "138-0013-8000", "+8613800138000", "(+86) 13800138000"]:
        assert customer_find_by_phone(organization=seller, phone=typed) == wang
    assert customer_find_by_phone(organization=seller, phone="13800138000", region="CN") == wang


def test_a_national_id_typed_in_lower_case_with_spaces_finds_the_customer(seller, wang):
    found = customer_find_by_national_id(organization=seller, national_id="110105 19491231 002x")
    assert found == wang


def test_search_is_scoped_to_the_organisation(wang):
    other = OrganizationFactory(slug="other-seller", country="CN")
    assert customer_find_by_email(organization=other, email="wang.xiaoming@example.cn") is None


def test_a_name_or_a_fragment_finds_nothing_because_there_is_no_such_search(seller, wang):
    for query in ["王小明", "Wang", "Xiaoming", "wang.xiaoming", "example.cn", "1380013"]:
        assert list(customer_search(organization=seller, query=query)) == []
    assert "cannot be searched by fragment" in str(NO_SUBSTRING_SEARCH)


def test_the_combined_search_finds_by_any_exact_key(seller, wang):
    for query in [
        wang.reference,
        "WANG.XIAOMING@example.cn",
        "+86 138 0013 8000",
        "11010519491231002x",
    ]:
        assert list(customer_search(organization=seller, query=query)) == [wang]


def test_an_unreadable_phone_number_finds_nothing_rather_than_failing(seller, wang):
    assert customer_find_by_phone(organization=seller, phone="call me") is None


def test_search_decrypts_nothing_and_sends_no_typed_value_to_the_database(seller, wang):
    wang.data_key.destroy()  # any decryption would now fail
    with CaptureQueriesContext(connection) as queries:
        found = customer_find_by_email(organization=seller, email="wang.xiaoming@example.cn")
    assert found == wang
    assert "xiaoming" not in " ".join(q["sql"] for q in queries.captured_queries).lower()


def test_blind_index_columns_are_indexed_per_organisation_in_the_database():
    """Every search is within one book: each blind index leads, after the organisation, an
    index of the real table (a unique constraint's or a plain one), found by introspection."""
    from django.db import connection

    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, Customer._meta.db_table)
    indexed = [tuple(c["columns"]) for c in found.values() if c["index"] or c["unique"]]
    for column in ("email_bidx", "phone_bidx", "national_id_bidx", "reference"):
        assert ("organization_id", column) in indexed, column
    # No lone blind-index index (nor PostgreSQL's _like twin): each would cost every insert.
    assert not [cols for cols in indexed if cols[0].endswith("_bidx")]


def test_a_list_decrypting_a_shown_field_runs_constant_queries(
    make_customer, django_assert_num_queries
):
    for i in range(3):
        make_customer(full_name=f"Listed {i}")

    def names() -> list[str]:
        return [c.full_name for c in Customer.objects.with_data_keys().order_by("reference")]

    with django_assert_num_queries(1):
        assert len(names()) == 3
    for i in range(3, 20):
        make_customer(full_name=f"Listed {i}")
    with django_assert_num_queries(1):
        assert len(names()) == 20
