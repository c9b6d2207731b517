"""Every API operation, for every kind of key → the documented status, never another
organisation's data. An endpoint added under /api/v1/ without a row here fails."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, get_resolver, resolve, reverse

from api.services import api_key_revoke
from tests.api.conftest import auth
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
}


def test_every_api_operation_has_a_row():
    api = next(p for p in get_resolver().url_patterns if getattr(p, "namespace", "") == "api")
    names = {
        f"api:{p.name}"
        for p in api.url_patterns
        if isinstance(p, URLPattern) and str(p.pattern).startswith("v1/")
    }
    assert names == set(MATRIX)


@pytest.fixture
def world(cast, issue, deals):
    deal, _other, _draft = deals
    revoked, revoked_text = issue(cast.seller)
    api_key_revoke(actor=cast.compliance, key=revoked)
    every = list(ApiScope.values)
    return {
        "deal": deal,
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
    url = reverse(name, kwargs=kwargs(world))
    text = world[key]
    if key == "lacking_scope":
        text = text[resolve(url).func.view_class.required_scope]
    response = api.get(url, **(auth(text) if text else {}))
    assert response.status_code == expected[key]
    if key == "other_buyer":
        assert "D-1" not in response.text
        assert str(world["deal"].pk) not in response.text
