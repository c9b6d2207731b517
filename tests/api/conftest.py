from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from api.services import api_key_create
from tests.transfers.conftest import make_deal
from transferdesk.principals import ApiScope
from transfers import services
from transfers.choices import StageKind


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def issue(cast):
    """Issue a key as the compliance officer: ``issue(organization, scopes)`` → (key, text)."""

    def issue(organization, scopes=(ApiScope.STAGES_READ,), name="CRM"):
        return api_key_create(
            actor=cast.compliance, organization=organization, name=name, scopes=list(scopes)
        )

    return issue


@pytest.fixture
def deals(cast):
    """The seller's deal with buyer A (a draft stage and a submitted one) and its deal with
    buyer B."""
    from customers.choices import Tier

    deal = make_deal(cast)
    other = make_deal(
        cast, reference="D-2", buyer=cast.other_buyer_org, buyer_user=cast.other_buyer
    )
    draft = services.stage_create(
        actor=cast.broker, deal=deal, name="First", kind=StageKind.AGGREGATE,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    return deal, other, draft


def auth(text: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Api-Key {text}"}
