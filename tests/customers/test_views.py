"""Broker pages: what each person sees, what the database holds afterwards, what is logged."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse

from customers.models import Customer, ImportStatus, ImportUpload
from customers.services import organization_grant, organization_revoke
from transferdesk.models import DataKey
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(cast, make_customer):
    """The cast's seller with customers; the broker may manage and reveal, broker2 may only
    manage."""
    for user, permissions in (
        (cast.broker, ("manage_customers", "reveal_core")),
        (cast.other_broker, ("manage_customers",)),
    ):
        for permission in permissions:
            organization_grant(
                actor=cast.admin, user=user, organization=cast.seller, permission=permission
            )
    cast.customer = make_customer(
        organization=cast.seller,
        reference="C-1",
        full_name="Wang Fang",
        email="wang.fang@example.com",
        phone="+44 20 7946 0958",
        national_id="AB 123456 C",
        bank_account="GB29NWBK60161331926819",
        segment="retail",
        city="London",
    )
    return cast


def events(action):
    return AuditEvent.objects.filter(action=action)


def test_a_grant_and_a_revoke_are_audit_events_naming_who_gave_what_to_whom(cast):
    organization_grant(
        actor=cast.admin, user=cast.broker, organization=cast.seller, permission="reveal_core"
    )
    organization_revoke(
        actor=cast.admin, user=cast.broker, organization=cast.seller, permission="reveal_core"
    )
    grant, revoke = events(AuditAction.GRANT).get(), events(AuditAction.REVOKE).get()
    for event in (grant, revoke):
        assert event.actor_id == cast.admin.pk
        assert event.details == {
            "permission": "reveal_core",
            "user": cast.broker.pk,
            "username": "broker",
        }


def test_the_broker_sees_names_in_the_list_and_compliance_sees_general_fields_only(book, client):
    client.force_login(book.broker)
    page = client.get(reverse("customers:customer_list", args=[book.seller.slug]))
    assert page.status_code == 200
    assert "Wang Fang" in page.text and "C-1" in page.text
    assert events(AuditAction.VIEW_SENSITIVE).filter(object_id=book.seller.pk).exists()
    client.force_login(book.compliance)
    page = client.get(reverse("customers:customer_list", args=[book.seller.slug]))
    assert page.status_code == 200
    assert "C-1" in page.text and "Wang Fang" not in page.text
    detail = client.get(reverse("customers:customer_detail", args=[book.customer.pk]))
    assert "London" in detail.text and "wang.fang" not in detail.text
    assert "Reveal core fields" not in detail.text


def test_the_detail_masks_core_fields_and_logs_the_sensitive_view(book, client):
    client.force_login(book.broker)
    page = client.get(reverse("customers:customer_detail", args=[book.customer.pk]))
    assert "wang.fang@example.com" in page.text
    assert "AB123456C" not in page.text and "AB 123456 C" not in page.text
    assert "GB29NWBK" not in page.text
    assert "Reveal core fields" in page.text
    event = events(AuditAction.VIEW_SENSITIVE).get(object_id=str(book.customer.pk))
    assert "email" in event.details["fields"]


def test_reveal_shows_core_fields_and_writes_reveal_and_view_core_events(book, client):
    client.force_login(book.broker)
    page = client.post(
        reverse("customers:customer_reveal", args=[book.customer.pk]), {"reason": "identity_check"}
    )
    assert page.status_code == 200
    assert "AB 123456 C" in page.text and "GB29NWBK60161331926819" in page.text
    for action in (AuditAction.REVEAL, AuditAction.VIEW_CORE):
        event = events(action).get(object_id=str(book.customer.pk))
        assert event.actor_id == book.broker.pk
        assert "national_id" in event.details["fields"]
    # The next plain view is masked again.
    again = client.get(reverse("customers:customer_detail", args=[book.customer.pk]))
    assert "GB29NWBK60161331926819" not in again.text


def test_a_broker_without_reveal_core_gets_403_on_reveal_and_no_event(book, client):
    client.force_login(book.other_broker)
    page = client.post(
        reverse("customers:customer_reveal", args=[book.customer.pk]), {"reason": "identity_check"}
    )
    assert page.status_code == 403
    assert not events(AuditAction.REVEAL).exists()
    assert not events(AuditAction.VIEW_CORE).exists()


def test_reveal_by_get_is_refused(book, client):
    client.force_login(book.broker)
    assert (
        client.get(reverse("customers:customer_reveal", args=[book.customer.pk])).status_code == 405
    )


def test_a_broker_without_any_grant_gets_404_on_a_customer(cast, make_customer, client):
    customer = make_customer(organization=cast.seller)
    client.force_login(cast.broker)
    assert client.get(reverse("customers:customer_detail", args=[customer.pk])).status_code == 404
    assert (
        client.get(reverse("customers:customer_list", args=[cast.seller.slug])).status_code == 404
    )


def test_editing_saves_the_changed_fields_and_records_an_update(book, client):
    client.force_login(book.broker)
    url = reverse("customers:customer_edit", args=[book.customer.pk])
    form = client.get(url).context["form"]
    data = {k: ("" if v is None else v) for k, v in form.initial.items()}
    data.update(city="Shanghai", phone="020 7946 0000")
    response = client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    customer = Customer.objects.get(pk=book.customer.pk)
    assert (customer.city, customer.phone) == ("Shanghai", "+442079460000")
    update = events(AuditAction.UPDATE).latest("seq")
    assert update.details["fields"] == ["city", "phone"]


def test_an_invalid_edit_shows_errors_by_field_and_changes_nothing(book, client):
    client.force_login(book.broker)
    url = reverse("customers:customer_edit", args=[book.customer.pk])
    data = {k: ("" if v is None else v) for k, v in client.get(url).context["form"].initial.items()}
    data.update(city="Paris", email="not-an-address", phone="12")
    response = client.post(url, data)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "email" in errors
    assert "Nothing was saved" in response.text
    customer = Customer.objects.get(pk=book.customer.pk)
    assert (customer.city, customer.email) == ("London", "wang.fang@example.com")


def test_the_phone_error_is_shown_on_its_field(book, client):
    client.force_login(book.broker)
    url = reverse("customers:customer_edit", args=[book.customer.pk])
    data = {k: ("" if v is None else v) for k, v in client.get(url).context["form"].initial.items()}
    data.update(phone="12")
    response = client.post(url, data)
    assert response.status_code == 400
    assert "phone" in response.context["form"].errors


def test_verified_sets_today_and_compliance_may_not(book, client):
    client.force_login(book.broker)
    url = reverse("customers:customer_verify", args=[book.customer.pk])
    assert client.post(url).status_code == 302
    assert Customer.objects.get(pk=book.customer.pk).last_verified_on is not None
    client.force_login(book.compliance)
    assert client.post(url).status_code == 403


def test_history_shows_values_for_visible_tiers_only(book, client):
    from customers.services import customer_update

    customer_update(
        actor=book.broker, customer=book.customer, values={"city": "Leeds", "national_id": "ZZ9"}
    )
    client.force_login(book.broker)
    page = client.get(reverse("customers:customer_history", args=[book.customer.pk]))
    assert "Leeds" in page.text and "ZZ9" not in page.text
    assert "core tier: value hidden" in page.text


# --- search -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["  WANG.FANG@Example.COM ", "+44 20 7946 0958", "+442079460958", "ab123456c", "C-1"],
)
def test_exact_search_finds_the_customer_in_other_case_spacing_and_format(book, client, query):
    client.force_login(book.broker)
    page = client.get(reverse("customers:customer_list", args=[book.seller.slug]), {"q": query})
    assert list(page.context["page_obj"].object_list) == [book.customer]


def test_a_name_substring_finds_nothing_and_the_page_says_why(book, client):
    client.force_login(book.broker)
    page = client.get(reverse("customers:customer_list", args=[book.seller.slug]), {"q": "Wang"})
    assert list(page.context["page_obj"].object_list) == []
    assert "cannot be searched by fragment" in page.text
    assert "0 customers match" in page.text  # not "0 customers": the book is not empty


def test_filters_on_general_fields_narrow_the_list(book, client, make_customer):
    make_customer(organization=book.seller, reference="C-2", segment="business", city="Leeds")
    client.force_login(book.broker)
    url = reverse("customers:customer_list", args=[book.seller.slug])
    page = client.get(url, {"segment": "business"})
    assert [c.reference for c in page.context["page_obj"].object_list] == ["C-2"]
    page = client.get(url, {"city": "london"})
    assert [c.reference for c in page.context["page_obj"].object_list] == ["C-1"]


def test_the_list_runs_the_same_queries_whatever_the_page_size_and_decrypts_only_names(
    book, client, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.transfers.conftest import bulk_customers
    from transferdesk.crypto.fields import EncryptedField

    bulk_customers(book.seller, 105, prefix="Q")  # every tier filled, in two bulk inserts
    client.force_login(book.broker)
    decrypted: list[str] = []
    real = EncryptedField.decrypt

    def counting(self, instance, ciphertext):
        if ciphertext is not None:
            decrypted.append(self.name)
        return real(self, instance, ciphertext)

    monkeypatch.setattr(EncryptedField, "decrypt", counting)
    url = reverse("customers:customer_list", args=[book.seller.slug])
    client.get(url)  # warm the per-process caches (content types) once
    counts = {}
    for per_page in (25, 100):
        decrypted.clear()
        with CaptureQueriesContext(connection) as queries:
            page = client.get(url, {"per_page": per_page})
        assert len(page.context["page_obj"].object_list) == per_page
        assert decrypted == ["full_name"] * per_page  # the shown column, nothing else
        counts[per_page] = len(queries)
    # Session, user, roles, scope, permissions, segments, count, page, the audit event and
    # the session save: the same whatever the page size.
    assert counts[25] == counts[100] <= 17, counts


# --- import pages ---------------------------------------------------------------------------


def upload(client, slug, content: bytes, name="customers.csv"):
    file = io.BytesIO(content)
    file.name = name
    return client.post(reverse("customers:import_upload", args=[slug]), {"file": file})


def test_the_import_goes_through_upload_mapping_and_result(book, client):
    client.force_login(book.broker)
    content = "客户编号,姓名,邮箱,备注\nU-1,赵丽,zhao@example.cn,VIP\n".encode("gbk")
    response = upload(client, book.seller.slug, content)
    assert response.status_code == 302
    stored = ImportUpload.objects.get()
    assert b"zhao" not in bytes(stored.content)  # kept encrypted
    mapping = client.get(response["Location"])
    assert mapping.status_code == 200
    assert "备注" in mapping.text
    form = mapping.context["form"]
    assert form["col_0"].value() == "reference" and form["col_3"].value() in ("", None)
    result = client.post(
        response["Location"],
        {"col_0": "reference", "col_1": "full_name", "col_2": "email", "col_3": ""},
    )
    assert result.status_code == 302
    page = client.get(result["Location"])
    assert "1 customer imported" in page.text
    assert "备注" in page.text  # reported as not stored
    assert Customer.objects.get(reference="U-1").full_name == "赵丽"
    stored.refresh_from_db()
    assert stored.status == ImportStatus.APPLIED and stored.content is None
    assert DataKey.objects.get(pk=stored.data_key_id).is_destroyed


def test_a_rejected_import_lists_problems_and_offers_the_csv_report(book, client):
    client.force_login(book.broker)
    content = b"reference,full_name,email\nR-1,,bad\nR-1,Ok,=cmd|calc\n"
    response = upload(client, book.seller.slug, content)
    result = client.post(
        response["Location"], {"col_0": "reference", "col_1": "full_name", "col_2": "email"}
    )
    page = client.get(result["Location"])
    assert "Nothing was imported" in page.text
    assert not Customer.objects.filter(reference="R-1").exists()
    report = client.get(
        reverse("customers:import_report", args=[book.seller.slug, ImportUpload.objects.get().pk])
    )
    text = report.content.decode("utf-8-sig")
    assert "2,full_name," in text and "2,email," in text and "3,reference," in text
    assert "3,email," in text
    assert "=cmd" not in text


def test_the_mapping_page_refuses_a_mapping_without_required_fields(book, client):
    client.force_login(book.broker)
    response = upload(client, book.seller.slug, b"a,b\n1,2\n")
    page = client.post(response["Location"], {"col_0": "", "col_1": "email"})
    assert page.status_code == 400
    assert "Choose the columns holding" in page.text
    assert ImportUpload.objects.get().status == ImportStatus.UPLOADED


def test_an_unreadable_upload_is_refused_on_the_upload_page(book, client):
    client.force_login(book.broker)
    response = upload(client, book.seller.slug, b"PK\x03\x04broken", name="x.xlsx")
    assert response.status_code == 400
    assert not ImportUpload.objects.exists()


def test_another_broker_cannot_open_someone_elses_upload(book, client):
    client.force_login(book.broker)
    response = upload(client, book.seller.slug, b"reference,full_name\nA,B\n")
    client.force_login(book.other_broker)
    assert client.get(response["Location"]).status_code == 404


def test_a_large_upload_stays_in_memory_and_never_spools_to_a_temporary_file(
    book, client, monkeypatch
):
    from django.core.files import uploadedfile

    def refuse(*args, **kwargs):
        raise AssertionError("the customer file was written to a temporary file")

    monkeypatch.setattr(uploadedfile.TemporaryUploadedFile, "__init__", refuse)
    client.force_login(book.broker)
    rows = "".join(f"L-{i},Name {i},{'x' * 40}\n" for i in range(60_000))
    content = ("reference,full_name,notes\n" + rows).encode()
    assert len(content) > 3 * 1024 * 1024  # above Django's in-memory threshold
    response = upload(client, book.seller.slug, content)
    assert response.status_code == 302
    assert ImportUpload.objects.get().row_count == 60_000


def test_a_file_above_the_threshold_runs_as_a_job_with_progress_and_is_wiped(
    book, client, monkeypatch, django_capture_on_commit_callbacks, eager_tasks
):
    from customers import importing
    from transferdesk.jobs import Job, JobStatus

    monkeypatch.setattr(importing, "JOB_THRESHOLD_ROWS", 2)
    # The task runs in this process whatever the broker (the live-worker test covers Redis).
    client.force_login(book.broker)
    content = b"reference,full_name\nJ-1,A B\nJ-2,C D\nJ-3,E F\n"
    response = upload(client, book.seller.slug, content)
    with django_capture_on_commit_callbacks(execute=True):
        result = client.post(response["Location"], {"col_0": "reference", "col_1": "full_name"})
    job = Job.objects.get(kind="customer_import")
    assert job.status == JobStatus.SUCCEEDED and job.done == 3
    assert job.result == {"rows": 3, "customers": 3, "problems": 0, "applied": True}
    assert Customer.objects.filter(reference__startswith="J-").count() == 3
    stored = ImportUpload.objects.get()
    assert stored.job_id == job.pk and stored.content is None
    page = client.get(result["Location"])
    assert "3 customers imported" in page.text


def test_the_edit_form_leaves_the_status_to_its_own_workflows(book, client):
    client.force_login(book.broker)
    form = client.get(reverse("customers:customer_edit", args=[book.customer.pk])).context["form"]
    assert "status" not in form.fields and "full_name" in form.fields
    assert "national_id" not in form.fields


def test_an_erased_customer_shows_in_the_list_and_record_without_personal_data(book, client):
    book.customer.data_key.destroy()
    client.force_login(book.broker)
    page = client.get(reverse("customers:customer_list", args=[book.seller.slug]))
    assert page.status_code == 200 and "(erased)" in page.text
    detail = client.get(reverse("customers:customer_detail", args=[book.customer.pk]))
    assert detail.status_code == 200 and "was erased" in detail.text
    history = client.get(reverse("customers:customer_history", args=[book.customer.pk]))
    assert history.status_code == 200
    edit = client.get(reverse("customers:customer_edit", args=[book.customer.pk]))
    assert edit.status_code == 403


def test_reveal_without_a_reason_shows_nothing_and_records_nothing(book, client):
    """The reveal asks why; without a reason (or with one not on the list) nothing is shown."""
    client.force_login(book.broker)
    url = reverse("customers:customer_reveal", args=[book.customer.pk])
    for data in ({}, {"reason": "curiosity"}, {"reason": "<script>x</script>"}):
        page = client.post(url, data)
        assert page.status_code == 400
        assert "GB29NWBK60161331926819" not in page.text
        assert "Reason for revealing" in page.text
    assert not events(AuditAction.REVEAL).exists()
    assert not events(AuditAction.VIEW_CORE).exists()
    client.post(url, {"reason": "subject_request"})
    assert events(AuditAction.REVEAL).get().details["reason"] == "subject_request"
