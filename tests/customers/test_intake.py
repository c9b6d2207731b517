"""An ordinary Chinese seller export, through the pages a broker uses: a GB18030 CSV with
Chinese headers and no reference column, full-width values typed by Chinese input methods, and
national ids of a seller in China checked as resident ids."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse

from customers import importing
from customers.models import Customer, ImportStatus, ImportUpload
from customers.selectors import customer_find_by_email, customer_find_by_phone, customer_search
from customers.services import customer_import, organization_grant

pytestmark = pytest.mark.django_db

#: Printable ASCII → its full-width form (U+FF01…U+FF5E), as a Chinese input method types it.
FULL_WIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})


def full_width(text: str) -> str:
    return text.translate(FULL_WIDTH)


VALID_ID = "110101199003077774"
#: As the issue saw it: the first two letters full-width, the rest ASCII.
LI_HUA = full_width("LI") + ".HUA@EXAMPLE.CN"
EXPORT = (
    "姓名,邮箱,手机,地址,身份证号\n"
    "王小明,wang@example.cn,13800138000,上海市浦东新区世纪大道1号,11010519491231002X\n"
    "李娜,lina@example.cn,13912345678,北京市朝阳区,\n"
)


@pytest.fixture
def cn_book(cast):
    """The cast's seller, in China; the broker may manage and reveal its customers."""
    cast.seller.country = "CN"
    cast.seller.save(update_fields=["country"])
    for permission in ("manage_customers", "reveal_core"):
        organization_grant(
            actor=cast.admin, user=cast.broker, organization=cast.seller, permission=permission
        )
    return cast


def upload(client, slug: str, content: bytes):
    file = io.BytesIO(content)
    file.name = "export.csv"
    return client.post(reverse("customers:import_upload", args=[slug]), {"file": file})


def mapping_of(page) -> dict[str, str]:
    form = page.context["form"]
    return {name: form[name].value() or "" for name in form.fields if name.startswith("col_")}


# --- generated references ----------------------------------------------------------------


def test_a_gb18030_export_without_references_is_imported_with_generated_ones(cn_book, client):
    data = EXPORT.encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the file really is GB18030, not UTF-8 by accident
    client.force_login(cn_book.broker)
    response = upload(client, cn_book.seller.slug, data)
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200
    # Every Chinese header recognised, nothing left for a reference column.
    assert list(mapping_of(page).values()) == [
        "full_name",
        "email",
        "phone",
        "postal_address",
        "national_id",
    ]
    assert page.context["form"]["generate_references"].value() is True
    assert "Generate references" in page.text
    assert "TD-000001" in page.text and "TD-000002" in page.text  # the preview: first, last
    result = client.post(response["Location"], {**mapping_of(page), "generate_references": "on"})
    assert result.status_code == 302
    done = client.get(result["Location"])
    assert "2 customers imported" in done.text
    assert "References generated: TD-000001 to TD-000002." in done.text
    wang = Customer.objects.get(organization=cn_book.seller, reference="TD-000001")
    assert (wang.full_name, wang.phone) == ("王小明", "+8613800138000")
    assert Customer.objects.get(organization=cn_book.seller, reference="TD-000002").full_name == (
        "李娜"
    )

    # The next file continues the sequence: references once given are never given again.
    more = "姓名,邮箱\n赵丽,zhao@example.cn\n".encode("gb18030")
    response = upload(client, cn_book.seller.slug, more)
    page = client.get(response["Location"])
    assert "TD-000003" in page.text
    client.post(response["Location"], {**mapping_of(page), "generate_references": "on"})
    assert Customer.objects.get(reference="TD-000003").full_name == "赵丽"
    assert Customer.objects.get(reference="TD-000001").full_name == "王小明"  # unchanged


def test_without_references_the_mapping_page_says_how_to_go_on_and_imports_nothing(cn_book, client):
    client.force_login(cn_book.broker)
    response = upload(client, cn_book.seller.slug, EXPORT.encode("gb18030"))
    page = client.get(response["Location"])
    refused = client.post(response["Location"], mapping_of(page))  # box left unticked
    assert refused.status_code == 400
    assert "or tick “Generate references”" in refused.text
    assert ImportUpload.objects.get().status == ImportStatus.UPLOADED
    assert not Customer.objects.filter(organization=cn_book.seller).exists()


def test_a_reference_column_and_generated_references_together_are_refused(cn_book, client):
    client.force_login(cn_book.broker)
    response = upload(client, cn_book.seller.slug, "编号,姓名\nA-1,王\n".encode("gb18030"))
    page = client.get(response["Location"])
    assert page.context["form"]["generate_references"].value() is False  # a column holds one
    refused = client.post(response["Location"], {**mapping_of(page), "generate_references": "on"})
    assert refused.status_code == 400
    assert "either keep it or generate references" in refused.text


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("客户名称", "full_name"),
        ("联系人", "full_name"),
        ("电子邮箱地址", "email"),
        ("邮箱地址", "email"),
        (full_width("EMAIL"), "email"),
        ("移动电话", "phone"),
        ("手机号码", "phone"),
        ("联系地址", "postal_address"),
        ("家庭住址", "postal_address"),
        ("公民身份号码", "national_id"),
        ("身份证号" + full_width("(") + "必填" + full_width(")"), "national_id"),
    ],
)
def test_common_chinese_header_variants_are_proposed(header, field):
    assert importing.propose_mapping([header]) == {0: field}


# --- full-width input --------------------------------------------------------------------


def test_full_width_email_phone_and_id_are_stored_normalised_and_found_either_way(seller):
    data = (
        "姓名,邮箱,手机,身份证号\n"
        f"李华,{LI_HUA},{full_width('13800138000')},{full_width(VALID_ID)}\n"
    ).encode("gb18030")
    outcome = customer_import(actor=None, organization=seller, data=data, generate_references=True)
    assert outcome.applied, outcome.problems
    li = Customer.objects.get(organization=seller)
    assert (li.email, li.phone, li.national_id) == (
        "LI.HUA@EXAMPLE.CN",
        "+8613800138000",
        VALID_ID,
    )
    for query in ("li.hua@example.cn", LI_HUA, full_width("li.hua@example.cn")):
        assert list(customer_search(organization=seller, query=query)) == [li], query
        assert customer_find_by_email(organization=seller, email=query) == li
    for query in ("13800138000", full_width("13800138000"), full_width("+86 138 0013 8000")):
        assert list(customer_search(organization=seller, query=query)) == [li], query
        assert customer_find_by_phone(organization=seller, phone=query) == li
    for query in (VALID_ID, full_width(VALID_ID)):
        assert list(customer_search(organization=seller, query=query)) == [li], query


def test_the_search_box_finds_a_customer_typed_in_full_width(cn_book, client, make_customer):
    customer = make_customer(
        organization=cn_book.seller, email="li.hua@example.cn", national_id=VALID_ID
    )
    client.force_login(cn_book.broker)
    url = reverse("customers:customer_list", args=[cn_book.seller.slug])
    for query in (LI_HUA, full_width(VALID_ID), full_width(customer.reference)):
        page = client.get(url, {"q": query})
        assert list(page.context["page_obj"].object_list) == [customer], query


def test_the_record_form_accepts_a_full_width_email_and_stores_it_normalised(
    cn_book, client, make_customer
):
    customer = make_customer(organization=cn_book.seller, email="old@example.cn")
    client.force_login(cn_book.broker)
    url = reverse("customers:customer_edit", args=[customer.pk])
    data = {k: ("" if v is None else v) for k, v in client.get(url).context["form"].initial.items()}
    data.update(email=LI_HUA, phone=full_width("13800138000"))
    response = client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    fresh = Customer.objects.get(pk=customer.pk)
    assert (fresh.email, fresh.phone) == ("LI.HUA@EXAMPLE.CN", "+8613800138000")
    assert customer_find_by_email(organization=cn_book.seller, email="li.hua@example.cn") == fresh


# --- national ids of a seller in China ---------------------------------------------------


@pytest.mark.parametrize(
    ("national_id", "says"),
    [
        ("BADID", "18 characters"),
        ("110105491231002", "18 characters"),  # a first-generation 15-digit number
        ("110101199013077771", "date of birth"),  # month 13
        ("110101199003077777", "check character"),
    ],
)
def test_an_import_for_a_seller_in_china_refuses_what_is_no_resident_id(seller, national_id, says):
    data = f"reference,full_name,national_id\nR-1,王,{national_id}\n".encode()
    outcome = customer_import(actor=None, organization=seller, data=data)
    assert not outcome.applied
    assert [(p.row, p.column) for p in outcome.problems] == [(2, "national_id")]
    assert says in outcome.problems[0].message
    assert national_id not in outcome.problems[0].message
    assert not Customer.objects.filter(organization=seller).exists()


def test_outside_china_the_national_id_rule_is_unchanged(cast):
    data = b"reference,full_name,national_id\nR-1,Smith,BADID\nR-2,Jones,AB 12 34 56 C\n"
    outcome = customer_import(actor=None, organization=cast.seller, data=data)  # in the UK
    assert outcome.applied, outcome.problems
    assert Customer.objects.get(reference="R-1").national_id == "BADID"


def test_the_core_correction_form_refuses_badid_for_a_seller_in_china(
    cn_book, client, make_customer
):
    customer = make_customer(organization=cn_book.seller, national_id=VALID_ID)
    client.force_login(cn_book.broker)
    url = reverse("customers:customer_correct_core", args=[customer.pk])
    response = client.post(url, {"national_id": "BADID", "reason": "entry_error"})
    assert response.status_code == 400
    assert "18 characters" in response.text
    assert Customer.objects.get(pk=customer.pk).national_id == VALID_ID
    accepted = client.post(
        url, {"national_id": full_width("11010519491231002x"), "reason": "entry_error"}
    )
    assert accepted.status_code == 302
    assert Customer.objects.get(pk=customer.pk).national_id == "11010519491231002X"
