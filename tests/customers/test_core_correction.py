"""Correcting core-tier fields (national id number, bank account, special-category notes):
only with ``reveal_core``, validated and normalised, with a reason, an audit event naming the
fields, a history row, and a follow-up task for every recipient of a handed-over copy."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from customers.choices import Tier
from customers.models import Customer
from customers.selectors import customer_find_by_national_id
from customers.services import customer_correct_core, organization_grant
from tests.factories import OrganizationFactory, UserFactory
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

OLD_ID, OLD_ACCOUNT = "AB 123456 C", "GB29NWBK60161331926819"
NEW_ACCOUNT = "GB82 WEST 1234 5698 7654 32"  # a valid IBAN, typed in groups


@pytest.fixture
def book(cast, make_customer):
    """The cast's seller: the broker may manage and reveal, broker2 may only manage."""
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
        national_id=OLD_ID,
        bank_account=OLD_ACCOUNT,
        special_category_notes="Wheelchair user",
    )
    cast.neighbour = make_customer(
        organization=cast.seller, reference="C-2", full_name="Li Lei", national_id="XY 999999 Z"
    )
    return cast


def url(customer):
    return reverse("customers:customer_correct_core", args=[customer.pk])


def stored(customer, *names):
    """The columns as stored (ciphertext and indexes), to prove that nothing changed."""
    return Customer.objects.filter(pk=customer.pk).values_list(*names).get()


def core_updates():
    return AuditEvent.objects.filter(action=AuditAction.UPDATE, details__correction="core")


# --- the page -----------------------------------------------------------------------------


def test_the_record_and_edit_pages_offer_the_correction_to_reveal_core_holders_only(book, client):
    detail = reverse("customers:customer_detail", args=[book.customer.pk])
    edit = reverse("customers:customer_edit", args=[book.customer.pk])
    client.force_login(book.broker)
    assert url(book.customer) in client.get(detail).text
    assert url(book.customer) in client.get(edit).text
    client.force_login(book.other_broker)
    assert url(book.customer) not in client.get(detail).text
    assert url(book.customer) not in client.get(edit).text


def test_the_form_never_shows_the_current_core_values(book, client):
    client.force_login(book.broker)
    page = client.get(url(book.customer))
    assert page.status_code == 200
    assert "AB 123456 C" not in page.text and "GB29NWBK" not in page.text
    assert "Wheelchair" not in page.text
    # Opening the form reads nothing of the core tier.
    assert not AuditEvent.objects.filter(action=AuditAction.VIEW_CORE).exists()


def test_a_correction_saves_normalised_values_and_records_fields_and_reason(book, client):
    client.force_login(book.broker)
    response = client.post(
        url(book.customer),
        {"national_id": " ab 654321 d ", "bank_account": NEW_ACCOUNT, "reason": "document_check"},
    )
    assert response.status_code == 302, response.context["form"].errors
    customer = Customer.objects.get(pk=book.customer.pk)
    assert customer.national_id == "AB654321D"  # upper-cased, spaces removed
    assert customer.bank_account == "GB82WEST12345698765432"
    assert customer.special_category_notes == "Wheelchair user"  # untouched
    # The blind index follows: the new number is found in any spacing, the old one no more.
    assert customer_find_by_national_id(organization=book.seller, national_id="ab654321d")
    assert customer_find_by_national_id(organization=book.seller, national_id=OLD_ID) is None
    event = core_updates().get()
    assert event.actor_id == book.broker.pk and event.object_id == str(customer.pk)
    assert event.details == {
        "fields": ["bank_account", "national_id"],
        "tiers": ["core"],
        "reason": "document_check",
        "correction": "core",
    }
    assert "654321" not in str(event.details) and "WEST" not in str(event.details)
    row = Customer.history.filter(id=customer.pk).latest("history_date")
    assert row.history_user_id == book.broker.pk
    assert row.history_change_reason == "document_check"
    page = client.get(response["Location"])
    assert "Core fields corrected: national id number, bank account." in page.text


def test_ticking_clear_removes_a_value_and_empties_nothing_else(book, client):
    client.force_login(book.broker)
    response = client.post(
        url(book.customer), {"clear_special_category_notes": "on", "reason": "subject_request"}
    )
    assert response.status_code == 302
    notes, national_id = stored(book.customer, "special_category_notes", "national_id_bidx")
    assert notes is None and national_id  # NULL, and the id number kept its index
    assert core_updates().get().details["fields"] == ["special_category_notes"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        # The neighbour's number, typed in another case and spacing: the blind index finds it.
        (
            {"national_id": "xy999999z", "reason": "entry_error"},
            "national_id",
            "Another customer of this organisation has this national id number.",
        ),
        ({"national_id": "AB/654321", "reason": "entry_error"}, "national_id", "letters, digits"),
        (
            {"bank_account": "GB00 WEST 1234 5698 7654 32", "reason": "entry_error"},
            "bank_account",
            "check digits of this IBAN",
        ),
        ({"bank_account": "12", "reason": "entry_error"}, "bank_account", "6 to 34"),
        ({"national_id": "AB654321D", "reason": ""}, "reason", "This field is required."),
        (
            {"national_id": "AB654321D", "clear_national_id": "on", "reason": "entry_error"},
            "national_id",
            "not both",
        ),
        ({"reason": "entry_error"}, None, "for at least one field"),
        ({"bank_account": OLD_ACCOUNT, "reason": "entry_error"}, None, "already on record"),
    ],
)
def test_an_invalid_correction_shows_its_error_on_the_page_and_saves_nothing(
    book, client, data, field, message
):
    before = stored(book.customer, "national_id", "bank_account", "national_id_bidx")
    client.force_login(book.broker)
    if field is not None:
        # A valid change beside the invalid one must not be saved either (all or nothing).
        data = {"special_category_notes": "Needs large print", **data}
    response = client.post(url(book.customer), data)
    assert response.status_code == 400
    form = response.context["form"]
    errors = form.errors.get(field or "__all__", [])
    assert any(message in str(e) for e in errors), form.errors
    assert "Nothing was saved" in response.text and message.split(":")[0] in response.text
    assert stored(book.customer, "national_id", "bank_account", "national_id_bidx") == before
    assert Customer.objects.get(pk=book.customer.pk).special_category_notes == "Wheelchair user"
    assert not core_updates().exists()


def test_a_chinese_resident_id_with_a_wrong_check_character_is_refused(cast, make_customer):
    seller = OrganizationFactory(slug="cn-seller", country="CN")
    organization_grant(
        actor=cast.admin, user=cast.broker, organization=seller, permission="manage_customers"
    )
    organization_grant(
        actor=cast.admin, user=cast.broker, organization=seller, permission="reveal_core"
    )
    customer = make_customer(organization=seller, national_id="")
    with pytest.raises(ValidationError) as excinfo:
        customer_correct_core(
            actor=cast.broker,
            customer=customer,
            values={"national_id": "110105194912310021"},
            reason="entry_error",
        )
    assert "check character" in str(excinfo.value.message_dict["national_id"])
    customer_correct_core(
        actor=cast.broker,
        customer=customer,
        values={"national_id": "11010519491231002x"},
        reason="entry_error",
    )
    assert Customer.objects.get(pk=customer.pk).national_id == "11010519491231002X"


# --- who may ------------------------------------------------------------------------------


def test_a_broker_without_reveal_core_gets_403_and_changes_nothing(book, client):
    client.force_login(book.other_broker)
    assert client.get(url(book.customer)).status_code == 403
    response = client.post(url(book.customer), {"national_id": "ZZ1", "reason": "entry_error"})
    assert response.status_code == 403
    assert Customer.objects.get(pk=book.customer.pk).national_id == OLD_ID
    assert not core_updates().exists()


def test_compliance_may_not_correct_core_fields(book, client):
    client.force_login(book.compliance)
    assert client.get(url(book.customer)).status_code == 403


def test_a_broker_of_another_organisation_gets_the_404_of_a_missing_record(book, client):
    elsewhere = OrganizationFactory(slug="elsewhere")
    stranger = UserFactory(username="broker3", organization=book.broker_firm, roles=["broker"])
    for permission in ("manage_customers", "reveal_core"):
        organization_grant(
            actor=book.admin, user=stranger, organization=elsewhere, permission=permission
        )
    client.force_login(stranger)
    assert client.get(url(book.customer)).status_code == 404
    response = client.post(url(book.customer), {"national_id": "ZZ1", "reason": "entry_error"})
    assert response.status_code == 404
    assert Customer.objects.get(pk=book.customer.pk).national_id == OLD_ID


def test_the_service_itself_refuses_a_person_without_reveal_core(book):
    with pytest.raises(PermissionDenied):
        customer_correct_core(
            actor=book.other_broker,
            customer=book.customer,
            values={"national_id": "ZZ1"},
            reason="entry_error",
        )
    with pytest.raises(ValidationError):
        customer_correct_core(
            actor=book.broker,
            customer=book.customer,
            values={"full_name": "X"},
            reason="entry_error",
        )
    assert not core_updates().exists()


def test_an_erased_record_cannot_be_corrected(book, client):
    book.customer.data_key.destroy()
    client.force_login(book.broker)
    assert client.get(url(book.customer)).status_code == 403


# --- history ------------------------------------------------------------------------------


def test_the_history_names_corrected_core_fields_and_shows_values_only_after_a_reveal(book, client):
    customer_correct_core(
        actor=book.broker,
        customer=book.customer,
        values={"national_id": "AB654321D"},
        reason="subject_request",
    )
    history = reverse("customers:customer_history", args=[book.customer.pk])
    reveal = reverse("customers:customer_history_reveal", args=[book.customer.pk])
    for user in (book.broker, book.other_broker, book.compliance):
        client.force_login(user)
        page = client.get(history)
        assert page.status_code == 200
        assert "National id number" in page.text and "core tier: value hidden" in page.text
        assert "Reason: The customer asked for the correction" in page.text
        assert "AB654321D" not in page.text and "AB 123456 C" not in page.text
        assert (reveal in page.text) is (user == book.broker)
    assert not AuditEvent.objects.filter(action=AuditAction.VIEW_CORE).exists()

    client.force_login(book.other_broker)
    assert client.post(reveal).status_code == 403
    client.force_login(book.compliance)
    assert client.post(reveal).status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.VIEW_CORE).exists()

    client.force_login(book.broker)
    page = client.post(reveal, {"reason": "correction"})
    assert page.status_code == 200
    assert "AB 123456 C" in page.text and "AB654321D" in page.text  # old → new
    for action in (AuditAction.REVEAL, AuditAction.VIEW_CORE):
        event = AuditEvent.objects.get(action=action, object_id=str(book.customer.pk))
        assert event.actor_id == book.broker.pk
        assert event.details == {"fields": ["national_id"], "reason": "correction"}
    assert "AB654321D" not in client.get(history).text  # masked again


# --- guarantee 9: recipients of a handed-over copy ------------------------------------------


@pytest.fixture
def handed_over(cast, eager_tasks, django_capture_on_commit_callbacks):
    """Customers handed over in an identified stage with the core tier and a pseudonymised
    stage (general fields only)."""
    from tests.transfers.conftest import make_customers, make_deal, open_notice_window
    from transfers import services
    from transfers.choices import StageKind

    for permission in ("manage_customers", "reveal_core"):
        organization_grant(
            actor=cast.admin, user=cast.broker, organization=cast.seller, permission=permission
        )
    customers = make_customers(cast.seller, 2)
    deal = make_deal(cast)
    open_notice_window(deal)
    stages = {}
    for kind, tiers in (
        (StageKind.IDENTIFIED, [Tier.GENERAL, Tier.CORE]),
        (StageKind.PSEUDONYMISED, [Tier.GENERAL]),
    ):
        stage = services.stage_create(
            actor=cast.broker, deal=deal, name=kind, kind=kind, tier_scope=tiers
        )
        services.stage_submit(actor=cast.broker, stage=stage)
        with django_capture_on_commit_callbacks(execute=True):
            services.stage_approve(actor=cast.compliance, stage=stage, note="Checked.")
        stage.refresh_from_db()
        assert stage.items.count() == 2, stage.status
        stages[kind] = stage
    return customers, stages


def test_correcting_a_handed_over_customer_gives_the_recipient_a_follow_up_task(
    cast, handed_over, client
):
    from transfers.choices import StageKind
    from transfers.portal_models import FollowUpTask

    customers, stages = handed_over
    client.force_login(cast.broker)
    response = client.post(
        url(customers[0]), {"bank_account": NEW_ACCOUNT, "reason": "subject_request"}
    )
    assert response.status_code == 302, response.context["form"].errors
    tasks = FollowUpTask.objects.filter(item__customer_id=customers[0].pk)
    # Only the stage that carries the core tier needs the update; nothing for the other
    # customer.
    assert [(t.item.stage_id, t.kind, t.reason) for t in tasks] == [
        (stages[StageKind.IDENTIFIED].pk, "update", "correction")
    ]
    assert not FollowUpTask.objects.filter(item__customer_id=customers[1].pk).exists()
