"""The import service: every row validated, every problem by row and column, all or nothing."""

from __future__ import annotations

import io
import logging

import pytest
from openpyxl import Workbook

from customers import importing
from customers.models import Customer, PurchaseRecord
from customers.selectors import customer_find_by_email, customer_find_by_national_id
from customers.services import customer_import
from tests.factories import OrganizationFactory
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

GOOD_CSV = (
    "reference,full_name,email,phone,national_id,city,customer_since,"
    "purchase_date,purchase_product,purchase_amount,purchase_currency\n"
    "R-1,Li Wei,li.wei@example.com,138 0013 8000,110101199003077774,Shanghai,2020-01-05,"
    "2025-03-01,Washer,1999.00,CNY\n"
    "R-2,Anna Smith,anna@example.com,+44 20 7946 0958,,London,2021/06/30,,,,\n"
)


def rows_of(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


def test_a_valid_csv_creates_every_customer_with_its_purchase_and_an_import_event(seller):
    outcome = customer_import(actor=None, organization=seller, data=rows_of(GOOD_CSV))
    assert outcome.ok and outcome.applied, outcome.problems
    assert (outcome.rows, outcome.customers, outcome.purchases) == (2, 2, 1)
    li = customer_find_by_email(organization=seller, email=" LI.WEI@example.com ")
    assert li is not None and li.full_name == "Li Wei" and li.phone == "+8613800138000"
    assert customer_find_by_national_id(organization=seller, national_id="110101199003077774")
    assert li.purchases.get().product == "Washer"
    assert Customer.history.get(id=li.pk).instance.full_name == "Li Wei"
    assert li.purchases.get().history.get().instance.product == "Washer"
    event = AuditEvent.objects.filter(action=AuditAction.IMPORT).get()
    assert event.details["customers"] == 2
    assert "Li Wei" not in str(event.details)


def test_a_file_with_errors_in_several_rows_and_columns_applies_nothing_and_reports_each(
    seller, make_customer
):
    make_customer(reference="EXISTING", email="taken@example.com")
    before = Customer.objects.count()
    data = rows_of(
        "reference,full_name,email,phone,customer_since,purchase_amount,purchase_date,"
        "purchase_product,purchase_currency\n"
        "R-1,Good Row,good@example.com,13800138000,2020-01-01,,,,\n"
        "R-2,,not-an-email,12,2020-13-45,,,,\n"
        "R-1,Dup Ref,TAKEN@example.com,,,abc,2024-01-01,Fridge,CNY\n"
        "EXISTING,Old,good@example.com,,,1.005,2024-01-01,Fridge,CNY\n"
    )
    outcome = customer_import(actor=None, organization=seller, data=data)
    assert not outcome.applied
    found = {(p.row, p.column) for p in outcome.problems}
    assert found == {
        (3, "full_name"),
        (3, "email"),
        (3, "phone"),
        (3, "customer_since"),
        (4, "reference"),
        (4, "email"),
        (4, "purchase_amount"),
        (5, "reference"),
        (5, "email"),
        (5, "purchase_amount"),
    }
    assert Customer.objects.count() == before
    assert not PurchaseRecord.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.IMPORT).exists()


def test_a_national_id_typed_in_lower_case_with_spaces_is_stored_normalised(seller):
    data = rows_of("reference,full_name,national_id\nN-1,Wang,110105 1949 1231 002x\n")
    outcome = customer_import(actor=None, organization=seller, data=data)
    assert outcome.applied, outcome.problems
    # Outside China any letters-digits-hyphens number is a national id (a UK NI number).
    uk = OrganizationFactory(slug="uk-seller", country="GB")
    data = rows_of("reference,full_name,national_id\nN-2,Zhao,  ab-12 34 c \n")
    outcome = customer_import(actor=None, organization=uk, data=data)
    assert outcome.applied, outcome.problems
    wang, zhao = Customer.objects.get(reference="N-1"), Customer.objects.get(reference="N-2")
    # As the core-field correction stores it: upper-case, no spaces.
    assert wang.national_id == "11010519491231002X"
    assert Customer.history.get(id=wang.pk).instance.national_id == "11010519491231002X"
    assert zhao.national_id == "AB-1234C"
    found = customer_find_by_national_id(organization=seller, national_id="11010519491231002x")
    assert found == wang


def test_a_resident_id_with_a_wrong_check_character_is_reported_and_nothing_applied(seller):
    before = Customer.objects.count()
    data = rows_of(
        "reference,full_name,national_id\n"
        "C-1,Good,110101199003077774\n"
        "C-2,Mistyped,110101199003077777\n"
        "C-3,Bad characters,1101/0119\n"
    )
    outcome = customer_import(actor=None, organization=seller, data=data)
    assert not outcome.applied
    problems = {(p.row, p.column): p.message for p in outcome.problems}
    assert set(problems) == {(3, "national_id"), (4, "national_id")}
    assert "check character" in problems[(3, "national_id")]
    assert "letters, digits and hyphens" in problems[(4, "national_id")]
    assert all("1101" not in message for message in problems.values())
    assert Customer.objects.count() == before
    assert not AuditEvent.objects.filter(action=AuditAction.IMPORT).exists()


def test_problem_messages_never_repeat_the_offending_value(seller):
    outcome = customer_import(
        actor=None,
        organization=seller,
        data=rows_of("reference,full_name,email\nR-1,X,secret-value-at-nowhere\n"),
    )
    assert outcome.problems
    assert all("secret-value" not in p.message for p in outcome.problems)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig"])
def test_files_with_chinese_headers_in_gbk_or_utf8_with_bom_import_correctly(seller, encoding):
    text = (
        "客户编号,姓名,手机,邮箱,地址,身份证号,城市,客户类型\n"
        "M-1,王小明,13800138000,wang@example.cn,上海市浦东新区世纪大道1号,"
        "110101199003077774,上海,零售\n"
        "M-2,李娜,13912345678,lina@example.cn,北京市朝阳区,,北京,企业\n"
    )
    outcome = customer_import(actor=None, organization=seller, data=text.encode(encoding))
    assert outcome.applied, outcome.problems
    wang = Customer.objects.get(reference="M-1")
    assert (wang.full_name, wang.city, wang.segment) == ("王小明", "上海", "零售")
    assert wang.postal_address == "上海市浦东新区世纪大道1号"
    assert outcome.unmapped_columns == []


def test_an_xlsx_file_imports_with_numbers_and_dates_as_spreadsheets_store_them(seller):
    import datetime

    book = Workbook()
    sheet = book.active
    sheet.append(
        [
            "Reference",
            "Name",
            "Mobile",
            "Customer since",
            "Amount",
            "Product",
            "Purchase date",
            "Currency",
        ]
    )
    sheet.append(
        [
            "X-1",
            "Chen Jie",
            13800138000,
            datetime.datetime(2019, 5, 4),
            12.5,
            "TV",
            datetime.date(2024, 2, 1),
            "CNY",
        ]
    )
    buffer = io.BytesIO()
    book.save(buffer)
    outcome = customer_import(actor=None, organization=seller, data=buffer.getvalue())
    assert outcome.applied, outcome.problems
    customer = Customer.objects.get(reference="X-1")
    assert customer.phone == "+8613800138000"
    assert str(customer.customer_since) == "2019-05-04"
    assert str(customer.purchases.get().amount) == "12.50"


def test_unmapped_columns_are_reported_and_never_stored(seller):
    data = rows_of("reference,full_name,favourite colour,password\nR-1,Ann Lee,UNMAPPEDSNTL,pw\n")
    outcome = customer_import(actor=None, organization=seller, data=data)
    assert outcome.applied
    assert outcome.unmapped_columns == ["favourite colour", "password"]
    customer = Customer.objects.get()
    assert "UNMAPPEDSNTL" not in str(vars(customer))
    history = Customer.history.get()
    assert "UNMAPPEDSNTL" not in str(vars(history))


def test_an_explicit_mapping_overrides_the_proposal_and_leaves_other_columns_out(seller):
    data = rows_of("code,who,email\nR-9,Bo Xu,bo@example.com\n")
    outcome = customer_import(
        actor=None, organization=seller, data=data, mapping={0: "reference", 1: "full_name"}
    )
    assert outcome.applied, outcome.problems
    assert Customer.objects.get().email == ""
    assert outcome.unmapped_columns == ["email"]


def test_a_dry_run_validates_but_writes_nothing(seller):
    outcome = customer_import(actor=None, organization=seller, data=rows_of(GOOD_CSV), dry_run=True)
    assert outcome.ok and not outcome.applied and outcome.rows == 2
    assert not Customer.objects.exists()


def test_missing_required_columns_are_reported_before_any_row_is_read(seller):
    outcome = customer_import(actor=None, organization=seller, data=rows_of("email\na@b.cn\n"))
    assert [p.row for p in outcome.problems] == [0, 0]


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00\x01\x02", b"PK\x03\x04garbage", b"\xff\xfe\xfa\xfb" * 10, b"a,b\n"],
)
def test_unreadable_files_come_back_as_a_file_problem(seller, data):
    outcome = customer_import(actor=None, organization=seller, data=data)
    assert not outcome.applied and outcome.problems
    assert not Customer.objects.exists()


def test_import_logs_hold_counts_but_no_personal_data(seller, caplog):
    caplog.set_level(logging.DEBUG)
    customer_import(actor=None, organization=seller, data=rows_of(GOOD_CSV))
    assert "customer import" in caplog.text
    for value in ("Li Wei", "li.wei", "110101199003077774", "13800138000", "Anna"):
        assert value not in caplog.text


def test_headers_are_recognised_in_english_and_chinese():
    mapping = importing.propose_mapping(["姓名", "E-mail", "手机号码", "Customer ID", "备注"])
    assert mapping == {0: "full_name", 1: "email", 2: "phone", 3: "reference"}
