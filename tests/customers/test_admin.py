from __future__ import annotations

import base64

import pytest
from django.urls import reverse

from customers.services import customer_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, cast):
    client.force_login(cast.admin)
    return client


@pytest.fixture
def secret_customer(make_customer):
    customer = make_customer(
        full_name="AdminSentinel Name",
        email="adminsentinel@example.com",
        national_id="ADMINSENTINEL1",
        preferences="AdminSentinel needs",
        segment="wholesale",
    )
    customer_update(
        actor=None,
        customer=customer,
        values={"email": "adminsentinel2@example.com", "segment": "retail"},
    )
    return customer


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:customers_customer_changelist",
        "admin:customers_customer_change",
        "admin:customers_customer_history",
    ],
)
def test_admin_pages_show_no_decrypted_personal_data(admin_client, secret_customer, url_name):
    args = [] if url_name.endswith("changelist") else [secret_customer.pk]
    response = admin_client.get(reverse(url_name, args=args))
    assert response.status_code == 200
    page = response.content.decode()
    assert secret_customer.reference in page
    assert "adminsentinel" not in page.lower()


def test_the_history_page_names_changed_fields_with_masked_values(admin_client, secret_customer):
    page = admin_client.get(
        reverse("admin:customers_customer_history", args=[secret_customer.pk])
    ).content.decode()
    assert "E-mail" in page
    assert "••••••" in page
    assert "wholesale" in page and "retail" in page  # general fields show their values


def test_a_history_version_page_shows_no_personal_data_and_cannot_revert(
    admin_client, secret_customer
):
    record = secret_customer.history.last()
    url = reverse(
        "admin:customers_customer_simple_history",
        args=[secret_customer.pk, record.history_id],
    )
    response = admin_client.get(url)
    assert response.status_code in (200, 403)
    assert "adminsentinel" not in response.content.decode().lower()


def test_the_admin_cannot_add_or_edit_customers(admin_client, secret_customer):
    assert admin_client.get(reverse("admin:customers_customer_add")).status_code == 403
    response = admin_client.post(
        reverse("admin:customers_customer_change", args=[secret_customer.pk]),
        {"segment": "hacked"},
    )
    assert response.status_code == 403


def test_the_data_key_admin_never_shows_key_material(admin_client, secret_customer):
    key = secret_customer.data_key
    page = admin_client.get(
        reverse("admin:transferdesk_datakey_change", args=[key.pk])
    ).content.decode()
    assert str(key.pk) in page
    wrapped = bytes(key.wrapped_key)
    assert "wrapped key" not in page.lower()
    assert wrapped.hex() not in page
    assert base64.b64encode(wrapped).decode() not in page


def test_posting_a_history_version_does_not_revert_the_customer(admin_client, secret_customer):
    """django-simple-history saves what is POSTed to a version page (a revert, encrypted
    fields included, with no audit event); the masked admin refuses it."""
    first = secret_customer.history.order_by("history_id").first()
    url = reverse(
        "admin:customers_customer_simple_history", args=[secret_customer.pk, first.history_id]
    )
    assert admin_client.post(url, {"_save": "Save"}).status_code == 403
    secret_customer.refresh_from_db()
    assert (secret_customer.segment, secret_customer.email) == (
        "retail", "adminsentinel2@example.com",
    )  # fmt: skip
