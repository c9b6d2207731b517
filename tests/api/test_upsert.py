"""The seller's push (``POST /api/v1/customers/upsert/``): the file import's validation and
writer behind a JSON body, all or nothing, problems by row and field, applied once per
``Idempotency-Key``, and nothing a hostile body sends turns into a 5xx."""

from __future__ import annotations

import csv
import io
import json
import random

import pytest
from django.urls import reverse

from api.models import IdempotencyKey
from api.upsert import MAX_ROWS
from customers.choices import OrganizationKind
from customers.models import Customer, Interaction, PurchaseRecord
from customers.services import customer_import
from tests.api.conftest import auth
from tests.customers.test_intake import full_width
from tests.factories import OrganizationFactory
from transferdesk.principals import ApiScope
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers/upsert/"

#: Values as a Chinese CRM exports them: full-width e-mail and phone, a Chinese date, an
#: amount with a thousands separator, a channel by its Chinese name.
ROWS = [
    {
        "reference": "C-001",
        "full_name": "李华",
        "email": full_width("li.hua") + "@example.cn",
        "phone": full_width("138 0013 8000"),
        "city": "上海",
        "country": "cn",
        "customer_since": "2021年3月4日",
        "legal_basis": "合同",
        "purchase": {"date": "2024/05/06", "product": "保险", "amount": "1,234.50",
                     "currency": "cny"},
        "interaction": {"date": "2024-06-01", "channel": "微信", "summary": "<b>续保</b>"},
    },
    {"reference": "C-002", "full_name": "Wang Fang", "email": "wang@example.cn",
     "phone": 13900139000},
]  # fmt: skip


@pytest.fixture
def seller(cast):
    cast.seller.country = "CN"
    cast.seller.save(update_fields=["country"])
    return cast.seller


@pytest.fixture
def key(issue, seller):
    return issue(seller, scopes=[ApiScope.CUSTOMERS_WRITE])[1]


def push(api, key, rows, idempotency=None, **extra):
    headers = auth(key) | ({"HTTP_IDEMPOTENCY_KEY": idempotency} if idempotency else {})
    return api.post(URL, {"customers": rows}, format="json", **headers, **extra)


def test_a_push_adds_the_customers_with_their_purchase_and_interaction(api, key, seller):
    response = push(api, key, ROWS)

    assert response.status_code == 200, response.json()
    assert response.json() == {
        "applied": True, "rows": 2, "customers": 2, "purchases": 1, "interactions": 1,
    }  # fmt: skip
    assert Customer.objects.filter(organization=seller).count() == 2
    event = AuditEvent.objects.get(action=AuditAction.IMPORT)
    assert event.details["source"] == "api" and event.details["customers"] == 2
    assert AuditEvent.objects.filter(action=AuditAction.API_CALL).count() == 1


def test_one_bad_row_applies_nothing_and_names_the_row_and_field(api, key, seller):
    rows = [
        *ROWS,
        {
            "reference": "C-003",
            "full_name": "Zhao",
            "purchase": {"product": "P", "amount": "1.234"},
        },
    ]
    rows[1] = {**rows[1], "email": "not an e-mail"}

    response = push(api, key, rows)

    assert response.status_code == 400
    body = response.json()
    assert body["applied"] is False
    found = {(p["row"], p["field"]) for p in body["problems"]}
    assert (2, "email") in found and (3, "purchase.amount") in found
    assert (3, "purchase.date") in found  # a purchase needs its date, as in a file
    assert "not an e-mail" not in response.text  # problems never repeat the value
    assert not Customer.objects.filter(organization=seller).exists()
    assert not PurchaseRecord.objects.exists() and not Interaction.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.IMPORT).exists()


def test_a_reference_the_book_holds_or_the_request_repeats_is_a_problem_of_its_row(
    api, key, seller
):
    assert push(api, key, ROWS[:1]).status_code == 200
    twice = {"reference": "C-009", "full_name": "A"}

    body = push(api, key, [ROWS[0] | {"email": "x@example.cn"}, twice, twice]).json()

    assert {(p["row"], p["field"]) for p in body["problems"]} == {
        (1, "reference"),
        (3, "reference"),
    }
    assert Customer.objects.filter(organization=seller).count() == 1


def test_a_retry_with_the_same_idempotency_key_applies_once(api, key, seller):
    first = push(api, key, ROWS, idempotency="push-2026-12-04-1")
    again = push(api, key, ROWS, idempotency="push-2026-12-04-1")

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Customer.objects.filter(organization=seller).count() == 2
    assert PurchaseRecord.objects.count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.IMPORT).count() == 1
    # Without the key, the same body is a new request: its references now exist.
    assert push(api, key, ROWS).status_code == 400


def test_the_same_key_with_another_body_is_refused(api, key, seller):
    assert push(api, key, ROWS, idempotency="k1").status_code == 200

    response = push(api, key, ROWS[:1], idempotency="k1")

    assert response.status_code == 422
    assert Customer.objects.filter(organization=seller).count() == 2


def test_a_refused_request_is_not_remembered_and_a_stored_key_expires(api, key, seller):
    assert push(api, key, [{"reference": "C-1"}], idempotency="k2").status_code == 400
    assert not IdempotencyKey.objects.exists()
    assert push(api, key, ROWS, idempotency="k2").status_code == 200
    # After a day the key is forgotten: the same body is then a new request.
    IdempotencyKey.objects.update(created_at="2000-01-01T00:00:00Z")
    assert push(api, key, ROWS, idempotency="k2").status_code == 400


def test_a_buyers_key_pushes_nothing(api, cast, issue):
    text = issue(cast.buyer_org, scopes=[ApiScope.CUSTOMERS_WRITE])[1]

    assert push(api, text, ROWS).status_code == 403
    assert not Customer.objects.exists()


def test_pushed_customers_are_in_the_sellers_book_as_a_file_import_stores_them(
    api, cast, client, key, seller
):
    assert push(api, key, ROWS).status_code == 200
    # The same rows as a CSV file, imported into another book in the same country.
    twin = OrganizationFactory(slug="twin", kind=OrganizationKind.SELLER, country="CN")
    header = ["reference", "full_name", "email", "phone", "city", "country", "customer_since",
              "legal_basis", "purchase_date", "purchase_product", "purchase_amount",
              "purchase_currency", "interaction_date", "interaction_channel",
              "interaction_summary"]  # fmt: skip
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in ROWS:
        flat = {**row, **{f"purchase_{k}": v for k, v in row.get("purchase", {}).items()}}
        flat |= {f"interaction_{k}": v for k, v in row.get("interaction", {}).items()}
        writer.writerow([flat.get(name, "") for name in header])
    assert customer_import(actor=None, organization=twin, data=buffer.getvalue().encode()).applied

    def book(organization):
        fields = ("reference", "full_name", "email", "phone", "city", "country",
                  "customer_since", "legal_basis")  # fmt: skip
        return {
            c.reference: (
                tuple(getattr(c, f) for f in fields),
                [(p.purchased_on, p.product, p.amount, p.currency) for p in c.purchases.all()],
                [(i.occurred_on, i.channel, i.summary) for i in c.interactions.all()],
                (c.email_bidx, c.phone_bidx),
            )
            for c in Customer.objects.filter(organization=organization)
        }

    pushed = book(seller)
    assert pushed == book(twin)
    assert pushed["C-001"][0][2:4] == ("li.hua@example.cn", "+8613800138000")
    # And the seller's book page lists them.
    client.force_login(cast.compliance)
    page = client.get(reverse("customers:customer_list", args=[seller.slug]))
    assert {c.reference for c in page.context["page_obj"].object_list} == {"C-001", "C-002"}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        random.Random(64).randbytes(64),  # random bytes, the same in every xdist worker
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b'{"customers": []}',
        b'{"customers": "C-001"}',
        b'{"customers": [1, null, "x", [], {}]}',
        b'{"customers": [{"reference": "C-1", "full_name": "A", "amount": NaN}]}',
        b"[" * 100_000,
        json.dumps({"customers": [{"reference": ["C-1"], "full_name": {"a": 1}}]}).encode(),
        json.dumps(
            {"customers": [{"reference": True, "full_name": "A", "purchase": "x"}]}
        ).encode(),
        json.dumps({"customers": [{"reference": "C-1", "full_name": "x" * 100_000}]}).encode(),
        json.dumps({"customers": [{"reference": "<script>", "full_name": "\x00"}]}).encode(),
        json.dumps({"customers": [{"reference": "C-1", "full_name": "A", "x" * 5000: 1}]}).encode(),
        json.dumps(
            {
                "customers": [
                    {
                        "reference": "C-1",
                        "full_name": "A",
                        "customer_since": "2024-02-30",
                        "country": "中国",
                        "purchase": {"amount": 1e300, "date": 12},
                    }
                ]
            }
        ).encode(),
    ],
)
def test_hostile_bodies_are_a_400_and_apply_nothing(api, key, seller, body):
    response = api.generic("POST", URL, body, content_type="application/json", **auth(key))

    assert response.status_code == 400, response.content[:300]
    assert not Customer.objects.exists()


def test_too_many_rows_are_refused_with_a_message(api, key, seller):
    rows = [{"reference": f"C-{n}", "full_name": "A"} for n in range(MAX_ROWS + 1)]

    response = push(api, key, rows)

    assert response.status_code == 413
    assert "1,000" in response.json()["detail"]
    assert not Customer.objects.exists()


def test_a_malformed_idempotency_key_is_refused(api, key, seller):
    assert push(api, key, ROWS, idempotency="x" * 256).status_code == 400
    assert not Customer.objects.exists()


def test_an_idempotency_key_is_the_organisations_own(api, issue, key, seller):
    other = OrganizationFactory(slug="seller-2", kind=OrganizationKind.SELLER, country="CN")
    other_key = issue(other, scopes=[ApiScope.CUSTOMERS_WRITE])[1]
    assert push(api, key, ROWS, idempotency="shared").status_code == 200

    # The same key and body from another seller: applied to its own book, not a replay of
    # the first seller's answer.
    response = push(api, other_key, ROWS, idempotency="shared")

    assert response.status_code == 200 and "Idempotent-Replayed" not in response
    assert Customer.objects.filter(organization=other).count() == 2


def test_a_body_over_the_upload_limit_is_a_413(api, key, seller, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    rows = [{"reference": "C-1", "full_name": "x" * 20_000}]

    response = push(api, key, rows)

    assert response.status_code == 413
    assert not Customer.objects.exists()
