"""The API's first door: deals and their stages, for the key's organisation only, within the
key's scope, every call in the trail, each key rate-limited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.api.conftest import auth
from transferdesk.principals import ApiScope
from transferdesk.trail import AuditAction, AuditEvent
from transfers.choices import StageStatus

pytestmark = pytest.mark.django_db

LIST = "/api/v1/deals/"


def detail(deal) -> str:
    return reverse("api:deal_detail", args=[deal.pk])


def test_a_sellers_key_lists_its_deals_with_their_stages(api, cast, issue, deals):
    _key, text = issue(cast.seller)

    response = api.get(LIST, **auth(text))

    assert response.status_code == 200
    body = response.json()
    assert {d["reference"] for d in body["results"]} == {"D-1", "D-2"}
    first = next(d for d in body["results"] if d["reference"] == "D-1")
    assert first["side"] == "seller" and first["seller"] == "seller" and first["buyer"] == "buyer-a"
    assert [(s["name"], s["status"]) for s in first["stages"]] == [("First", "draft")]


def test_a_buyers_key_sees_its_own_deal_and_only_its_handed_over_stages(api, cast, issue, deals):
    deal, _other, draft = deals
    _key, text = issue(cast.buyer_org)

    body = api.get(LIST, **auth(text)).json()

    assert [d["reference"] for d in body["results"]] == ["D-1"]
    assert body["results"][0]["side"] == "buyer"
    assert body["results"][0]["stages"] == []  # a draft is the broker's plan, not the buyer's
    draft.status = StageStatus.DELIVERED
    draft.save(update_fields=["status"])
    stages = api.get(detail(deal), **auth(text)).json()["stages"]
    assert [s["status"] for s in stages] == ["delivered"]


def test_a_deal_of_another_organisation_is_the_404_of_a_missing_one(api, cast, issue, deals):
    deal, other, _draft = deals
    _key, text = issue(cast.buyer_org)

    assert api.get(detail(deal), **auth(text)).status_code == 200
    missing = api.get(detail(other), **auth(text))

    assert missing.status_code == 404
    assert "D-2" not in missing.text


def test_a_key_without_the_scope_is_refused_with_403(api, cast, issue, deals):
    deal, _other, _draft = deals
    _key, text = issue(cast.seller, scopes=[ApiScope.CUSTOMERS_WRITE])

    assert api.get(LIST, **auth(text)).status_code == 403
    assert api.get(detail(deal), **auth(text)).status_code == 403


def test_a_revoked_key_is_refused_at_once(api, cast, issue, deals):
    from api.services import api_key_revoke

    key, text = issue(cast.seller)
    assert api.get(LIST, **auth(text)).status_code == 200

    assert api_key_revoke(actor=cast.compliance, key=key)
    refused = api.get(LIST, **auth(text))

    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == "Api-Key"
    assert not api_key_revoke(actor=cast.compliance, key=key)  # once only


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Api-Key ",
        "Api-Key not-a-key",
        "Api-Key abcdefgh.abcdefghabcdefghabcdefghabcdefgh",
        "Api-Key abc\x00defg.abcdefghabcdefghabcdefghabcdefgh",
        "Bearer abcdefgh.abcdefghabcdefghabcdefghabcdefgh",
        "Api-Key " + "x" * 10_000,
    ],
)
def test_no_key_or_a_bad_one_is_401(api, cast, deals, header):
    response = api.get(LIST, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401


def test_the_secret_half_of_a_key_matters(api, cast, issue, deals):
    _key, text = issue(cast.seller)
    prefix, _dot, secret = text.partition(".")
    forged = f"{prefix}.{'A' * len(secret)}"
    assert api.get(LIST, **auth(forged)).status_code == 401


def test_the_key_is_stored_only_as_a_hash(cast, issue):
    key, text = issue(cast.seller)
    key.refresh_from_db()
    _prefix, _dot, secret = text.partition(".")
    stored = " ".join(str(v) for v in key.__dict__.values())
    assert secret not in stored
    assert key.hashed_key.startswith("sha512$$")


def test_every_call_is_an_audit_event_naming_the_key_endpoint_object_and_deal(
    api, cast, issue, deals
):
    deal, other, _draft = deals
    key, text = issue(cast.buyer_org)

    api.get(LIST, **auth(text))
    api.get(detail(deal), **auth(text))
    api.get(detail(other), **auth(text))

    calls = list(AuditEvent.objects.filter(action=AuditAction.API_CALL).order_by("seq"))
    assert [(c.details["endpoint"], c.details["status"]) for c in calls] == [
        ("api:deal_list", 200),
        ("api:deal_detail", 200),
        ("api:deal_detail", 404),
    ]
    for call in calls:
        assert call.actor_id is None
        assert call.actor_name == f"api-key:{key.prefix}@buyer-a"
        assert call.details["key"] == key.prefix
        assert call.details["organization"] == cast.buyer_org.pk
    assert (calls[1].object_type, calls[1].object_id, calls[1].deal_ref) == (
        "transfers.transferdeal", str(deal.pk), str(deal.pk),
    )  # fmt: skip
    # The probe of another organisation's deal names the id asked for, but no deal of its own.
    assert (calls[2].object_id, calls[2].deal_ref) == (str(other.pk), "")
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_calls_refused_for_the_scope_are_in_the_trail_too(api, cast, issue, deals):
    _key, text = issue(cast.seller, scopes=[ApiScope.EVENTS_READ])
    api.get(LIST, **auth(text))
    call = AuditEvent.objects.get(action=AuditAction.API_CALL)
    assert call.details["status"] == 403


def test_a_key_past_its_rate_gets_429_with_retry_after(api, cast, issue, deals, settings):
    settings.API_KEY_RATE = "2/minute"
    _key, text = issue(cast.seller)
    _other_key, other_text = issue(cast.buyer_org)

    statuses = [api.get(LIST, **auth(text)).status_code for _ in range(3)]
    limited = api.get(LIST, **auth(text))

    assert statuses == [200, 200, 429]
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert api.get(LIST, **auth(other_text)).status_code == 200  # per key, not for everyone
    # Two refusals, one event: a flood of refused calls does not write the trail at its pace.
    calls = AuditEvent.objects.filter(action=AuditAction.API_CALL)
    assert [c.details["status"] for c in calls.order_by("seq")] == [200, 200, 429, 200]


@pytest.mark.redis
def test_the_count_of_a_keys_calls_is_kept_in_redis_shared_by_every_web_process(
    api, cast, issue, deals, settings
):
    import pickle

    import redis

    settings.API_KEY_RATE = "2/minute"
    key, text = issue(cast.seller)
    store = redis.Redis.from_url(settings.REDIS_URL)
    (name,) = store.keys(f"*throttle_api_key_{key.prefix}") or [None]
    assert name is None

    api.get(LIST, **auth(text))
    api.get(LIST, **auth(text))

    (name,) = store.keys(f"*throttle_api_key_{key.prefix}")
    assert len(pickle.loads(store.get(name))) == 2  # noqa: S301 (Django's own cache entry)
    store.delete(name)  # another process's view of the count: gone, so the key may call again
    assert api.get(LIST, **auth(text)).status_code == 200


def test_the_deal_list_costs_the_same_queries_whatever_the_number_of_deals(
    api, cast, issue, deals, django_assert_max_num_queries
):
    from tests.transfers.conftest import make_deal

    _key, text = issue(cast.seller)
    with django_assert_max_num_queries(12) as few:
        api.get(LIST, **auth(text))
    for n in range(3, 9):
        make_deal(cast, reference=f"D-{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api.get(LIST, **auth(text)).json()["results"]) == 8
