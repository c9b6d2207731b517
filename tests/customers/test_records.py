"""Steps that needed a shell, now on the broker's pages: a customer added by hand, purchases and
interactions added, corrected and removed on the record page, and a file checked without being
imported. Each through the page a broker uses, then the database and the audit trail."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import translation

from customers import services
from customers.models import Customer, ImportStatus, ImportUpload, Interaction, PurchaseRecord
from customers.services import organization_grant, organization_revoke
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

CN_ID = "11010519491231002X"


def wide(text: str) -> str:
    """``text`` in full-width forms, as Chinese input methods type letters and digits."""
    return "".join(
        chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text
    )  # a valid resident id (date of birth, check character)


@pytest.fixture
def book(cast):
    """The cast's seller, in China; the broker may manage and reveal, broker2 (no deal of its
    own here) may only manage. Compliance reads every book."""
    cast.seller.country = "CN"
    cast.seller.save(update_fields=["country"])
    for user, permissions in (
        (cast.broker, ("manage_customers", "reveal_core")),
        (cast.other_broker, ("manage_customers",)),
    ):
        for permission in permissions:
            organization_grant(
                actor=cast.admin, user=user, organization=cast.seller, permission=permission
            )
    cast.customer = services.customer_add(
        actor=cast.broker,
        organization=cast.seller,
        values={"reference": "C-1", "full_name": "王芳", "email": "wang@example.cn"},
    )
    return cast


def add_url(book):
    return reverse("customers:customer_add", args=[book.seller.slug])


def stored_bytes(sql: str) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return b"".join(bytes(value or b"") for (value,) in cursor.fetchall())


# --- a customer by hand ----------------------------------------------------------------------


def test_the_book_links_to_adding_a_customer_for_brokers_who_may_change_it(book, client):
    client.force_login(book.broker)
    page = client.get(reverse("customers:customer_list", args=[book.seller.slug]))
    assert add_url(book) in page.text and "Add a customer" in page.text
    client.force_login(book.compliance)
    page = client.get(reverse("customers:customer_list", args=[book.seller.slug]))
    assert page.status_code == 200 and add_url(book) not in page.text


def test_a_broker_adds_a_customer_typed_full_width_and_it_is_stored_as_the_import_stores_it(
    book, client
):
    client.force_login(book.broker)
    response = client.post(
        add_url(book),
        {
            "reference": wide("HK-007"),  # full-width, as a Chinese input method types it
            "full_name": "李华",
            "email": wide("LI.HUA") + "@EXAMPLE.CN",
            "phone": wide("138 0013 8000"),
            "country": "cn",
            "national_id": CN_ID.lower(),
            "bank_account": "6222 0212 3456 7890",
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    customer = Customer.objects.get(reference="HK-007")
    assert response["Location"].endswith(f"/{customer.pk}/")
    assert customer.email == "LI.HUA@EXAMPLE.CN"
    assert customer.phone == "+8613800138000"
    assert customer.country == "CN"
    assert customer.national_id == CN_ID
    assert customer.bank_account == "6222021234567890"
    assert customer.data_key_id and customer.history.count() == 1
    # Found by the exact search in its ordinary form.
    found = client.get(
        reverse("customers:customer_list", args=[book.seller.slug]), {"q": "li.hua@example.cn"}
    )
    assert "HK-007" in found.text
    event = AuditEvent.objects.filter(action=AuditAction.CREATE, object_id=str(customer.pk)).get()
    assert "national_id" in event.details["fields"]
    assert "李华" not in str(event.details) and CN_ID not in str(event.details)


def test_core_fields_are_asked_only_of_a_broker_holding_reveal_core(book, client):
    client.force_login(book.broker)
    assert "national_id" in client.get(add_url(book)).context["form"].fields
    client.force_login(book.other_broker)
    page = client.get(add_url(book))
    assert page.status_code == 200
    assert not {"national_id", "bank_account", "special_category_notes"} & set(
        page.context["form"].fields
    )
    # A core value posted anyway is not a field of the form: it is never stored.
    client.post(add_url(book), {"reference": "C-2", "full_name": "Li", "national_id": CN_ID})
    assert Customer.objects.get(reference="C-2").national_id == ""


def test_the_service_refuses_core_fields_from_a_broker_without_reveal_core(book):
    with pytest.raises(PermissionDenied):
        services.customer_add(
            actor=book.other_broker,
            organization=book.seller,
            values={"reference": "C-3", "full_name": "Li", "national_id": CN_ID},
        )
    assert not Customer.objects.filter(reference="C-3").exists()


def test_a_broker_whose_grant_was_revoked_since_the_page_cannot_add(book):
    organization_revoke(
        actor=book.admin,
        user=book.other_broker,
        organization=book.seller,
        permission="manage_customers",
    )
    with pytest.raises(PermissionDenied):
        services.customer_add(
            actor=book.other_broker,
            organization=book.seller,
            values={"reference": "C-4", "full_name": "Li"},
        )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("reference", wide("C-1"), "A customer with this reference already exists."),
        ("email", wide("WANG@example.cn"), "Another customer of this organisation has this e-mail"),
    ],
)
def test_a_reference_or_e_mail_already_in_the_book_is_an_error_on_its_field(
    book, client, field, value, message
):
    client.force_login(book.broker)
    data = {"reference": "C-9", "full_name": "Zhao", field: value}
    page = client.post(add_url(book), data)
    assert page.status_code == 400
    assert message in " ".join(page.context["form"].errors[field])
    assert Customer.objects.count() == 1


def test_a_national_id_already_in_the_book_is_an_error_on_its_field(book, client):
    client.force_login(book.broker)
    client.post(add_url(book), {"reference": "C-5", "full_name": "A", "national_id": CN_ID})
    page = client.post(
        add_url(book), {"reference": "C-6", "full_name": "B", "national_id": f" {CN_ID.lower()} "}
    )
    assert page.status_code == 400
    assert "national id number" in " ".join(page.context["form"].errors["national_id"])
    assert not Customer.objects.filter(reference="C-6").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("national_id", "BADID"),  # not a resident id for a seller in China
        ("national_id", "110105194902300020"),  # 30 February inside
        ("national_id", "<script>alert(1)</script>"),
        ("phone", "12345"),
        ("email", "not-an-address"),
        ("country", "China"),
        ("customer_since", "2026-02-30"),
        ("retention_until", "31/31/2026"),
        ("legal_basis", "because"),
        ("full_name", "x" * 256),
        ("postal_address", "x" * 1001),
        ("reference", "r" * 65),
        ("full_name", "a\x00b"),
        ("bank_account", "12"),
    ],
)
def test_hostile_input_is_a_field_error_and_nothing_is_created(book, client, field, value):
    client.force_login(book.broker)
    data = {"reference": "H-1", "full_name": "Hostile", field: value}
    page = client.post(add_url(book), data)
    assert page.status_code == 400
    assert field in page.context["form"].errors
    assert "<script>alert(1)</script>" not in page.text
    assert not Customer.objects.filter(reference__startswith="H-").exists()
    assert (
        not AuditEvent.objects.filter(action=AuditAction.CREATE)
        .exclude(object_id=str(book.customer.pk))
        .exists()
    )


def test_markup_in_a_name_is_stored_as_text_and_shown_escaped(book, client):
    client.force_login(book.broker)
    client.post(add_url(book), {"reference": "M-1", "full_name": "<b>Bold</b>"})
    customer = Customer.objects.get(reference="M-1")
    page = client.get(reverse("customers:customer_detail", args=[customer.pk]))
    assert "&lt;b&gt;Bold&lt;/b&gt;" in page.text and "<b>Bold</b>" not in page.text


def test_compliance_may_not_add_and_another_deals_broker_gets_404(book, client, cast):
    client.force_login(book.compliance)
    assert client.post(add_url(book), {"reference": "X", "full_name": "X"}).status_code == 403
    organization_revoke(
        actor=book.admin,
        user=book.other_broker,
        organization=book.seller,
        permission="manage_customers",
    )
    client.force_login(book.other_broker)
    assert client.post(add_url(book), {"reference": "X", "full_name": "X"}).status_code == 404
    assert not Customer.objects.filter(reference="X").exists()


# --- purchases and interactions --------------------------------------------------------------

PURCHASE = {
    "purchased_on": "2026-03-01",
    "product": "年度会员",
    "amount": "1280.50",
    "currency": "CNY",
    "notes": "SENTINEL-PURCHASE-NOTE",
}
INTERACTION = {"occurred_on": "2026-03-02", "channel": "phone", "summary": "SENTINEL-SUMMARY"}


def test_the_record_page_offers_adding_and_editing_purchases_and_interactions(book, client):
    services.purchase_add(actor=book.broker, customer=book.customer, values=dict(PURCHASE))
    client.force_login(book.broker)
    page = client.get(reverse("customers:customer_detail", args=[book.customer.pk]))
    assert "Add purchase" in page.text and "Add interaction" in page.text
    purchase = PurchaseRecord.objects.get()
    assert reverse("customers:purchase_edit", args=[book.customer.pk, purchase.pk]) in page.text
    client.force_login(book.compliance)
    page = client.get(reverse("customers:customer_detail", args=[book.customer.pk]))
    assert "Add purchase" not in page.text
    assert reverse("customers:purchase_edit", args=[book.customer.pk, purchase.pk]) not in page.text


def test_a_purchase_added_on_the_page_is_stored_encrypted_with_its_event_and_history(book, client):
    client.force_login(book.broker)
    response = client.post(
        reverse("customers:purchase_add", args=[book.customer.pk]),
        {**PURCHASE, "currency": wide("cny")},  # full-width, lower case
    )
    assert response.status_code == 302
    purchase = PurchaseRecord.objects.get()
    assert purchase.currency == "CNY"  # normalised as the import does
    assert purchase.notes == "SENTINEL-PURCHASE-NOTE"
    assert purchase.history.count() == 1
    assert b"SENTINEL" not in stored_bytes("SELECT notes FROM customers_purchaserecord")
    assert b"SENTINEL" not in stored_bytes("SELECT notes FROM customers_historicalpurchaserecord")
    event = AuditEvent.objects.filter(
        action=AuditAction.CREATE, details__record="purchaserecord"
    ).get()
    assert event.object_id == str(book.customer.pk)
    assert event.details["fields"] == ["amount", "currency", "notes", "product", "purchased_on"]
    assert "SENTINEL" not in str(event.details) and "1280" not in str(event.details)
    page = client.get(response["Location"])
    assert "年度会员" in page.text and "SENTINEL-PURCHASE-NOTE" in page.text


def test_editing_a_purchase_writes_and_names_only_the_changed_fields_and_keeps_history(
    book, client
):
    purchase = services.purchase_add(
        actor=book.broker, customer=book.customer, values=dict(PURCHASE)
    )
    client.force_login(book.broker)
    url = reverse("customers:purchase_edit", args=[book.customer.pk, purchase.pk])
    form = client.get(url)
    assert form.status_code == 200 and "SENTINEL-PURCHASE-NOTE" in form.text
    response = client.post(url, {**PURCHASE, "currency": "CNY", "amount": "99.00"})
    assert response.status_code == 302
    purchase.refresh_from_db()
    assert str(purchase.amount) == "99.00" and purchase.history.count() == 2
    event = AuditEvent.objects.filter(action=AuditAction.UPDATE).latest("seq")
    assert event.details["fields"] == ["amount"]
    assert event.details["record_id"] == str(purchase.pk)


def test_the_edit_page_keeps_the_date_in_the_form_a_date_box_reads_in_every_language(book, client):
    purchase = services.purchase_add(
        actor=book.broker, customer=book.customer, values=dict(PURCHASE)
    )
    client.force_login(book.broker)
    client.cookies["django_language"] = "zh-hans"
    url = reverse("customers:purchase_edit", args=[book.customer.pk, purchase.pk])
    page = client.get(url)
    assert page.text.count('value="2026-03-01"') == 1  # not 2026/03/01, which the box drops


def test_deleting_a_purchase_removes_it_and_records_the_deletion(book, client):
    purchase = services.purchase_add(
        actor=book.broker, customer=book.customer, values=dict(PURCHASE)
    )
    client.force_login(book.broker)
    url = reverse("customers:purchase_delete", args=[book.customer.pk, purchase.pk])
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 302
    assert not PurchaseRecord.objects.exists()
    assert PurchaseRecord.history.filter(id=purchase.pk, history_type="-").exists()
    event = AuditEvent.objects.filter(action=AuditAction.DELETE).get()
    assert event.object_id == str(book.customer.pk)
    assert event.details["record"] == "purchaserecord"


def test_interactions_are_added_edited_and_deleted_through_the_page(book, client):
    client.force_login(book.broker)
    client.post(reverse("customers:interaction_add", args=[book.customer.pk]), dict(INTERACTION))
    interaction = Interaction.objects.get()
    assert interaction.summary == "SENTINEL-SUMMARY"
    assert b"SENTINEL" not in stored_bytes("SELECT summary FROM customers_interaction")
    edit = reverse("customers:interaction_edit", args=[book.customer.pk, interaction.pk])
    client.post(edit, {**INTERACTION, "channel": "email"})
    interaction.refresh_from_db()
    assert interaction.channel == "email" and interaction.history.count() == 2
    delete = reverse("customers:interaction_delete", args=[book.customer.pk, interaction.pk])
    client.post(delete)
    assert not Interaction.objects.exists()
    actions = list(
        AuditEvent.objects.filter(details__record="interaction")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [AuditAction.CREATE, AuditAction.UPDATE, AuditAction.DELETE]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("purchased_on", "2026-02-30"),
        ("amount", "abc"),
        ("amount", "1" * 20),
        ("currency", "EURO"),
        ("currency", "<b>"),
        ("product", "p" * 256),
        ("notes", "n" * 4001),
    ],
)
def test_a_hostile_purchase_is_a_field_error_and_nothing_is_stored(book, client, field, value):
    client.force_login(book.broker)
    url = reverse("customers:purchase_add", args=[book.customer.pk])
    page = client.post(url, {**PURCHASE, field: value})
    assert page.status_code == 400 and field in page.context["form"].errors
    assert not PurchaseRecord.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("channel", "carrier-pigeon"), ("occurred_on", "2026-13-01"), ("summary", "s" * 4001)],
)
def test_a_hostile_interaction_is_a_field_error_and_nothing_is_stored(book, client, field, value):
    client.force_login(book.broker)
    url = reverse("customers:interaction_add", args=[book.customer.pk])
    page = client.post(url, {**INTERACTION, field: value})
    assert page.status_code == 400 and field in page.context["form"].errors
    assert not Interaction.objects.exists()


def test_another_customers_purchase_is_not_found_through_this_customers_url(book, client):
    other = services.customer_add(
        actor=book.broker, organization=book.seller, values={"reference": "C-7", "full_name": "O"}
    )
    purchase = services.purchase_add(actor=book.broker, customer=other, values=dict(PURCHASE))
    client.force_login(book.broker)
    url = reverse("customers:purchase_edit", args=[book.customer.pk, purchase.pk])
    assert client.get(url).status_code == 404
    delete = reverse("customers:purchase_delete", args=[book.customer.pk, purchase.pk])
    assert client.post(delete).status_code == 404
    assert PurchaseRecord.objects.filter(pk=purchase.pk).exists()


def test_compliance_and_a_broker_without_the_book_cannot_change_purchases(book, client):
    purchase = services.purchase_add(
        actor=book.broker, customer=book.customer, values=dict(PURCHASE)
    )
    delete = reverse("customers:purchase_delete", args=[book.customer.pk, purchase.pk])
    client.force_login(book.compliance)
    assert client.post(delete).status_code == 403
    organization_revoke(
        actor=book.admin,
        user=book.other_broker,
        organization=book.seller,
        permission="manage_customers",
    )
    client.force_login(book.other_broker)
    assert client.post(delete).status_code == 404
    assert PurchaseRecord.objects.filter(pk=purchase.pk).exists()


def test_an_erased_customer_takes_no_new_purchase(book):
    book.customer.data_key.destroy()
    with pytest.raises(ValidationError):
        services.purchase_add(actor=book.broker, customer=book.customer, values=dict(PURCHASE))


# --- check a file without importing ----------------------------------------------------------


def upload(client, slug, content: bytes):
    file = io.BytesIO(content)
    file.name = "customers.csv"
    return client.post(reverse("customers:import_upload", args=[slug]), {"file": file})


MAPPING = {"col_0": "reference", "col_1": "full_name", "col_2": "email"}


def test_check_only_lists_the_problems_by_row_and_column_and_imports_nothing(book, client):
    client.force_login(book.broker)
    content = "客户编号,姓名,邮箱\nU-1,赵丽,bad\nU-2,,ok@example.cn\nC-1,王,x@example.cn\n"
    mapping_url = upload(client, book.seller.slug, content.encode("gbk"))["Location"]
    page = client.post(mapping_url, {**MAPPING, "check": "1"})
    assert page.status_code == 200
    problems = {(p["row"], p["column"]) for p in page.context["check"]["problems"]}
    assert problems == {(2, "邮箱"), (3, "姓名"), (4, "客户编号")}
    assert "Checked only: nothing was imported." in page.text
    assert "3 problems found in 3 rows" in page.text
    assert Customer.objects.count() == 1
    stored = ImportUpload.objects.get()
    assert stored.status == ImportStatus.UPLOADED and stored.content is not None
    assert stored.report == {}
    assert not AuditEvent.objects.filter(action=AuditAction.IMPORT).exists()


def test_a_clean_file_checked_says_how_many_rows_would_be_imported_and_can_then_be_imported(
    book, client
):
    client.force_login(book.broker)
    content = b"reference,full_name,email\nU-1,Zhao,zhao@example.cn\nU-2,Qian,qian@example.cn\n"
    mapping_url = upload(client, book.seller.slug, content)["Location"]
    page = client.post(mapping_url, {**MAPPING, "check": "1"})
    assert "2 rows would be imported." in page.text
    assert not Customer.objects.filter(reference__startswith="U-").exists()
    # The mapping was kept: the page offers it again, and the import runs from it.
    assert page.context["form"]["col_2"].value() == "email"
    result = client.post(mapping_url, MAPPING)
    assert result.status_code == 302
    assert Customer.objects.filter(reference__startswith="U-").count() == 2


def test_checking_a_large_file_runs_as_a_job_with_progress_and_shows_its_result(
    book, client, django_capture_on_commit_callbacks, eager_tasks
):
    """Past ``JOB_THRESHOLD_ROWS`` the check runs in the background, as the import does: the
    page follows its progress, then shows the problems; nothing is imported."""
    from customers import importing
    from transferdesk.models import Job, JobStatus

    rows = importing.JOB_THRESHOLD_ROWS + 1
    lines = [f"U-{i},Name {i},u{i}@example.cn" for i in range(rows)]
    lines[7] = "U-7,Name 7,not-an-email"
    content = ("reference,full_name,email\n" + "\n".join(lines) + "\n").encode()
    client.force_login(book.broker)
    mapping_url = upload(client, book.seller.slug, content)["Location"]
    assert "Check only" in client.get(mapping_url).text
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(mapping_url, {**MAPPING, "check": "1"})
    job = Job.objects.get(kind="customer_import_check")
    assert response.status_code == 302
    assert response["Location"] == f"{mapping_url}?check={job.pk}"
    assert job.status == JobStatus.SUCCEEDED and job.total == rows and job.done == rows
    page = client.get(response["Location"])
    assert "Checked only: nothing was imported." in page.text
    assert f"1 problem found in {rows} rows" in page.text
    assert not Customer.objects.filter(reference__startswith="U-").exists()
    stored = ImportUpload.objects.get()
    assert stored.status == ImportStatus.UPLOADED and stored.content is not None
    # Someone else's check job is not shown on this page.
    client.force_login(book.other_broker)
    other = client.get(response["Location"])
    assert "Checked only" not in other.text


def _reader(client, user, language: str):
    from django.conf import settings

    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def test_a_file_level_problem_found_during_the_import_is_shown_in_the_readers_language(
    book, client, settings
):
    """A problem of the whole file (here a line too long, found while the rows are read) is
    stored in every language, as the rows' problems are: the import ran in English, the
    Chinese reader reads it in Chinese."""
    upload_row = services.import_upload_create(
        actor=book.broker,
        organization=book.seller,
        data=("reference,full_name\nU-1,Zhao\nU-2," + "长" * 60 + "\n").encode(),
    )
    services.import_upload_set_mapping(upload=upload_row, mapping={0: "reference", 1: "full_name"})
    settings.IMPORT_MAX_LINE_CHARS = 40
    with translation.override("en"):  # as a worker runs it, in the default language
        services.import_upload_start(actor=book.broker, upload=upload_row)
    upload_row.refresh_from_db()
    assert upload_row.status == ImportStatus.REJECTED
    url = reverse("customers:import_result", args=[book.seller.slug, upload_row.pk])
    page = _reader(client, book.broker, "zh-hans").get(url).text
    assert "第 3 行超过 40 个字符；这不是客户文件。" in page  # noqa: RUF001
    assert "is longer than" not in page


def test_an_expired_uploads_message_is_shown_in_the_readers_language(book, client):
    import datetime

    from django.utils import timezone

    upload_row = services.import_upload_create(
        actor=book.broker, organization=book.seller, data=b"reference,full_name\nU-1,Zhao\n"
    )
    with translation.override("en"):  # the periodic job, in the default language
        assert services.import_uploads_expire(now=timezone.now() + datetime.timedelta(days=30))
    url = reverse("customers:import_result", args=[book.seller.slug, upload_row.pk])
    page = _reader(client, book.broker, "zh-hans").get(url).text
    assert "此上传未在期限内应用：其文件未经读取即已销毁。" in page  # noqa: RUF001
    assert "Nobody applied" not in page


def test_an_imported_upload_cannot_be_checked_again(book):
    upload_row = services.import_upload_create(
        actor=book.broker, organization=book.seller, data=b"reference,full_name\nU-1,Zhao\n"
    )
    services.import_upload_set_mapping(upload=upload_row, mapping={0: "reference", 1: "full_name"})
    services.import_upload_start(actor=book.broker, upload=upload_row)
    with pytest.raises(ValidationError):
        services.import_upload_check(actor=book.broker, upload=upload_row)
