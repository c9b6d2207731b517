"""Data-subject requests from the seller's website (``POST /api/v1/requests/``): the register's
own service behind the key, its rules' errors as JSON, nothing outside the seller's deals."""

from __future__ import annotations

import random

import pytest
from django.urls import reverse

from customers.choices import CustomerStatus
from tests.api.conftest import auth
from tests.factories import CustomerFactory
from transferdesk.principals import ApiScope
from transferdesk.trail import AuditAction, AuditEvent
from transfers.notice_models import DataSubjectRequest, IdentityCheck, RequestSource

pytestmark = pytest.mark.django_db

URL = "/api/v1/requests/"


@pytest.fixture
def world(cast, issue, deals):
    deal, other, _draft = deals
    customer = CustomerFactory(organization=cast.seller, reference="C-7", email="c7@example.test")
    key = issue(cast.seller, scopes=[ApiScope.REQUESTS_WRITE])[1]
    return {"deal": deal, "other": other, "customer": customer, "key": key}


def send(api, key, body):
    return api.post(URL, body, format="json", **auth(key))


def test_an_objection_from_the_website_is_registered_and_takes_effect(api, cast, client, world):
    response = send(
        api, world["key"], {"deal": str(world["deal"].pk), "customer_reference": "C-7",
                            "kind": "objection"},
    )  # fmt: skip

    assert response.status_code == 201, response.json()
    dsr = DataSubjectRequest.objects.get()
    assert response.json()["id"] == str(dsr.pk) and response.json()["source"] == "website"
    assert (dsr.customer, dsr.deal, dsr.source) == (
        world["customer"], world["deal"], RequestSource.WEBSITE,
    )  # fmt: skip
    assert dsr.identity_check == IdentityCheck.PENDING  # the seller signed them in, not us
    world["customer"].refresh_from_db()
    assert world["customer"].status == CustomerStatus.OBJECTED
    event = AuditEvent.objects.get(action=AuditAction.REQUEST_RECEIVED)
    assert event.details["source"] == "website"
    call = AuditEvent.objects.get(action=AuditAction.API_CALL)
    assert call.deal_ref == str(world["deal"].pk)
    # In the compliance officer's register, as any other request.
    client.force_login(cast.compliance)
    page = client.get(reverse("requests:request_detail", args=[dsr.pk]))
    assert page.status_code == 200


def test_the_services_rules_come_back_as_json_by_field(api, world):
    base = {"deal": str(world["deal"].pk), "customer_reference": "C-7"}

    correction = send(api, world["key"], base | {"kind": "correction", "field_name": "national_id"})
    complaint = send(api, world["key"], base | {"kind": "complaint", "message": "   "})
    unknown = send(api, world["key"], base | {"customer_reference": "C-404", "kind": "access"})

    assert correction.status_code == complaint.status_code == unknown.status_code == 400
    assert "field_name" in correction.json()
    assert "message" in complaint.json()
    assert "customer_reference" in unknown.json()
    assert not DataSubjectRequest.objects.exists()


def test_a_deal_the_seller_is_not_party_to_is_a_404_and_a_buyers_key_a_403(api, cast, issue, world):
    # A deal of another seller is outside the key's scope: the 404 of a missing one.
    from tests.factories import OrganizationFactory
    from transfers import services

    stranger = OrganizationFactory(slug="seller-2")
    foreign = services.deal_create(
        actor=cast.broker, reference="D-9", title="Deal D-9", seller=stranger,
        buyer=cast.buyer_org, purposes="Continue.", legal_basis="Contract",
    )  # fmt: skip
    body = {"deal": str(foreign.pk), "customer_reference": "C-7", "kind": "access"}
    buyer = issue(cast.buyer_org, scopes=[ApiScope.REQUESTS_WRITE])[1]

    assert send(api, world["key"], body).status_code == 404
    body["deal"] = str(world["deal"].pk)
    assert send(api, buyer, body).status_code == 403
    assert not DataSubjectRequest.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        random.Random(64).randbytes(64),  # random bytes, the same in every xdist worker
        b"[1]",
        b'{"deal": "not-a-uuid", "customer_reference": "C-7", "kind": "access"}',
        b'{"deal": null, "customer_reference": ["C-7"], "kind": {"a": 1}}',
        b'{"kind": "telepathy"}',
        b"[" * 100_000,
    ],
)
def test_hostile_bodies_are_a_400(api, world, body):
    response = api.generic("POST", URL, body, content_type="application/json", **auth(world["key"]))

    assert response.status_code == 400
    assert not DataSubjectRequest.objects.exists()


def test_long_text_and_markup_are_refused_or_kept_as_text(api, world):
    base = {"deal": str(world["deal"].pk), "customer_reference": "C-7", "kind": "complaint"}

    assert send(api, world["key"], base | {"message": "x" * 5000}).status_code == 400
    assert send(api, world["key"], base | {"message": "a\x00b"}).status_code == 400
    ok = send(api, world["key"], base | {"message": "<script>alert(1)</script>"})
    assert ok.status_code == 201
    assert DataSubjectRequest.objects.get().message == "<script>alert(1)</script>"
