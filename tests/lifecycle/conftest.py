"""Fixtures for retention, backups and incidents: a seller book seeded with sentinels."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from audits.models import RetentionPolicy
from audits.retention import policy_confirm, policy_save
from customers.models import Customer, Interaction, Organization, PurchaseRecord
from customers.services import customer_create, customer_update
from tests.factories import OrganizationFactory

_refs = itertools.count(1)


def sentinel(label: str) -> str:
    return f"SNTL{label}{uuid.uuid4().hex[:12]}"


@pytest.fixture
def seller(db: None) -> Organization:
    return OrganizationFactory(slug="lifecycle-seller", country="CN")


@pytest.fixture
def make_customer(seller: Organization) -> Callable[..., tuple[Customer, list[str]]]:
    """A customer full of sentinels (fields, an update in history, a purchase, an
    interaction) and the list of those sentinels."""

    def make(**general: Any) -> tuple[Customer, list[str]]:
        n = next(_refs)
        values = {
            "reference": f"L-{n:05d}",
            "full_name": sentinel("name"),
            "email": f"{sentinel('mail').lower()}@example.com",
            "postal_address": sentinel("addr"),
            "national_id": sentinel("nid"),
            "special_category_notes": sentinel("health"),
            **general,
        }
        customer = customer_create(actor=None, organization=seller, values=values)
        secrets = [v for k, v in values.items() if k not in general and k != "reference"]
        new_address = sentinel("addr2")
        customer_update(actor=None, customer=customer, values={"postal_address": new_address})
        secrets.append(new_address)
        notes, summary = sentinel("notes"), sentinel("summary")
        PurchaseRecord.objects.create(
            customer=customer,
            purchased_on=dt.date(2020, 1, 1),
            product="Washer",
            amount="10.00",
            currency="CNY",
            notes=notes,
        )
        Interaction.objects.create(
            customer=customer, occurred_on=dt.date(2020, 1, 2), channel="chat", summary=summary
        )
        secrets += [notes, summary]
        return Customer.objects.get(pk=customer.pk), secrets

    return make


@pytest.fixture
def contract_policy(cast: Any, seller: Organization) -> Callable[..., RetentionPolicy]:
    def make(*, action: str = "destroy", confirm: bool = True) -> RetentionPolicy:
        policy = policy_save(
            actor=cast.compliance,
            organization=seller,
            category="customer_record",
            event="contract_end",
            period_days=365,
            action=action,
        )
        return policy_confirm(actor=cast.compliance, policy=policy) if confirm else policy

    return make


@pytest.fixture
def delivered(cast: Any, django_capture_on_commit_callbacks: Any) -> tuple[Any, Any]:
    """A deal of ``cast.seller`` to ``cast.buyer`` with one identified stage of 4 customers
    delivered (the engine run in-process after commit)."""
    from customers.choices import Tier
    from tests.transfers.conftest import make_customers, make_deal, open_notice_window
    from transferdesk.celery import app
    from transfers import services
    from transfers.choices import StageKind

    deal = make_deal(cast, reference="D-LOSE")
    make_customers(cast.seller, 4)
    open_notice_window(deal)
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name="Contacts", kind=StageKind.IDENTIFIED,
        tier_scope=[Tier.GENERAL, Tier.SENSITIVE],
    )  # fmt: skip
    services.stage_submit(actor=cast.broker, stage=stage)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.stage_approve(actor=cast.compliance, stage=stage, note="Checked.")
    finally:
        app.conf.task_always_eager = eager
    stage.refresh_from_db()
    assert stage.items.count() == 4
    return deal, stage
