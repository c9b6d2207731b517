"""Every API operation, for every kind of key → the documented status, never another
organisation's data. An endpoint added under /api/v1/ without a row here fails."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, get_resolver, resolve, reverse

from api.services import api_key_revoke
from tests.api.conftest import auth
from tests.factories import CustomerFactory
from transferdesk.principals import ApiScope

pytestmark = pytest.mark.django_db

KEYS = ("seller", "buyer", "other_buyer", "lacking_scope", "revoked", "none")

#: url name → (kwargs from the world, expected status per key).
MATRIX = {
    "api:deal_list": (
        lambda w: {},
        {
            "seller": 200,
            "buyer": 200,
            "other_buyer": 200,
            "lacking_scope": 403,
            "revoked": 401,
            "none": 401,
        },
    ),
    # The deal is the seller's with buyer A: buyer B's key gets the 404 of a missing one.
    "api:deal_detail": (
        lambda w: {"pk": w["deal"].pk},
        {
            "seller": 200,
            "buyer": 200,
            "other_buyer": 404,
            "lacking_scope": 403,
            "revoked": 401,
            "none": 401,
        },
    ),
    # The buyer's side (api/buyer.py): a stage handed over to buyer A, and its task. The
    # seller's key is the 404 of a missing stage; the buyer's wrong root is a 400, not data.
    **{
        f"api:stage_{name}": (
            lambda w: {"pk": w["stage"].pk},
            {
                "seller": 404,
                "buyer": ok,
                "other_buyer": 404,
                "lacking_scope": 403,
                "revoked": 401,
                "none": 401,
            },
        )
        for name, ok in (
            ("items", 200),
            ("dictionary", 200),
            ("manifest", 200),
            ("acknowledge", 400),
        )
    },
    # A seller's key (it may hold followups.write) lists no task and attests none.
    "api:followup_list": (
        lambda w: {},
        {
            "seller": 200,
            "buyer": 200,
            "other_buyer": 200,
            "lacking_scope": 403,
            "revoked": 401,
            "none": 401,
        },
    ),
    # The audit events the organisation may read: each key its own (buyer B's key gets a 200
    # with its own events, none of the seller's deal with buyer A).
    "api:event_list": (
        lambda w: {},
        {
            "seller": 200,
            "buyer": 200,
            "other_buyer": 200,
            "lacking_scope": 403,
            "revoked": 401,
            "none": 401,
        },
    ),
    # A seller's push: a buyer's key (any buyer) is refused, whatever its scopes.
    "api:customer_upsert": (
        lambda w: {},
        {
            "seller": 200,
            "buyer": 403,
            "other_buyer": 403,
            "lacking_scope": 403,
            "revoked": 401,
            "none": 401,
        },
    ),
    "api:followup_attest": (
        lambda w: {"pk": w["task"].pk},
        {
            "seller": 404,
            "buyer": 201,
            "other_buyer": 404,
            "lacking_scope": 403,
            "revoked": 401,
            "none": 401,
        },
    ),
    "api:deal_questions": (
        lambda w: {"pk": w["deal"].pk},
        {
            "seller": 404,
            "buyer": 200,
            "other_buyer": 404,
            "lacking_scope": 403,
            "revoked": 401,
            "none": 401,
        },
    ),
    # One chain for everyone: its last verification, to every key reading events.
    "api:verification": (
        lambda w: {},
        {
            "seller": 200,
            "buyer": 200,
            "other_buyer": 200,
            "lacking_scope": 403,
            "revoked": 401,
            "none": 401,
        },
    ),
    "api:deal_questions#post": (
        lambda w: {"pk": w["deal"].pk},
        {
            "seller": 404,
            "buyer": 201,
            "other_buyer": 404,
            "lacking_scope": 403,
            "revoked": 401,
            "none": 401,
        },
    ),
    # A request from the seller's website, under the seller's deal: only the seller's key.
    "api:request_create": (
        lambda w: {},
        {
            "seller": 201,
            "buyer": 403,
            "other_buyer": 403,
            "lacking_scope": 403,
            "revoked": 401,
            "none": 401,
        },
    ),
}
#: Operations called with POST (a second method on a URL is the row ``name#post``), and the
#: body sent, from the world.
POSTS = {
    "api:stage_acknowledge": lambda w: {"merkle_root": "0" * 64},
    "api:followup_attest": lambda w: {"attestation": "Updated in our CRM."},
    "api:deal_questions#post": lambda w: {"stage": str(w["stage"].pk), "subject": "S", "body": "B"},
    "api:customer_upsert": lambda w: {"customers": [{"reference": "M-1", "full_name": "Matrix"}]},
    "api:request_create": lambda w: {
        "deal": str(w["deal"].pk),
        "customer_reference": w["customer"].reference,
        "kind": "access",
    },
}


def test_every_api_operation_has_a_row():
    api = next(p for p in get_resolver().url_patterns if getattr(p, "namespace", "") == "api")
    names = {
        f"api:{p.name}"
        for p in api.url_patterns
        if isinstance(p, URLPattern) and str(p.pattern).startswith("v1/")
    }
    assert names == {row.partition("#")[0] for row in MATRIX}


@pytest.fixture
def world(cast, issue, deals):
    from tests.api.buyer_world import handed_over

    deal, _other, _draft = deals
    every = list(ApiScope.values)  # the actors' keys hold every scope: only the door decides
    revoked, revoked_text = issue(cast.seller, scopes=every)
    api_key_revoke(actor=cast.compliance, key=revoked)
    every = list(ApiScope.values)
    return {
        "deal": deal,
        **handed_over(cast, deal),
        "customer": CustomerFactory(organization=cast.seller, reference="M-7"),
        "seller": issue(cast.seller, scopes=every)[1],
        "buyer": issue(cast.buyer_org, scopes=every)[1],
        "other_buyer": issue(cast.other_buyer_org, scopes=every)[1],
        # By the scope an operation needs: a key holding every other scope.
        "lacking_scope": {
            scope: issue(cast.seller, scopes=[s for s in every if s != scope])[1] for scope in every
        },
        "revoked": revoked_text,
        "none": None,
    }


@pytest.mark.parametrize("name", sorted(MATRIX))
@pytest.mark.parametrize("key", KEYS)
def test_each_key_gets_the_expected_status_and_no_foreign_data(api, world, name, key):
    kwargs, expected = MATRIX[name]
    url = reverse(name.partition("#")[0], kwargs=kwargs(world))
    text = world[key]
    if key == "lacking_scope":
        text = text[resolve(url).func.view_class.required_scope]
    headers = auth(text) if text else {}
    if name in POSTS:
        response = api.post(url, POSTS[name](world), format="json", **headers)
    else:
        response = api.get(url, **headers)
    assert response.status_code == expected[key]
    if key == "other_buyer":
        assert "D-1" not in response.text
        assert str(world["deal"].pk) not in response.text
