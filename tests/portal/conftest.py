"""Delivered deals for the portal tests, built through the deals engineer's services and engine.

``delivered`` gives the buyer's deal (NDA accepted) with a pseudonymised, an identified and an
aggregate stage delivered, and one stage still in draft; the other buyer has a deal of their
own on the same seller, also delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import TestCase

from customers.choices import Tier
from customers.models import Customer
from tests.factories import Cast, make_cast
from tests.support.world import fast_password_hashing, fresh, shared_world, tasks_in_process
from tests.transfers.conftest import make_customers, make_deal, open_notice_window
from transferdesk.celery import app
from transferdesk.trail import AuditEvent
from transfers import services
from transfers.choices import StageKind
from transfers.models import HandoverStage, TransferDeal

#: (customer index, general field, value): cells that must reach exports neutralised.
FORMULAS = (
    (3, "city", '=HYPERLINK("http://evil.example","click")'),
    (4, "region", "+1"),
    (5, "city", "@SUM(1)"),
    (6, "region", "-2+3"),
    (7, "city", "\tTabbed"),
)


@pytest.fixture(autouse=True)
def _eager_engine():
    """Run the handover engine in-process (the transfers tests cover the real worker).

    The override is removed afterwards rather than set back to the value read: a value set on
    ``app.conf`` would shadow, for the rest of the session, the Django setting that later tests
    (the permission matrix) change through pytest-django's ``settings``.
    """
    changes = app.conf.changes
    had, old = "task_always_eager" in changes, changes.get("task_always_eager")
    app.conf.task_always_eager = True
    yield
    if had:
        changes["task_always_eager"] = old
    else:
        changes.pop("task_always_eager", None)


def deliver(cast: Any, deal: TransferDeal, kind: str, tiers: list[str], *, name: str = "",
            capture: Any, broker: Any = None) -> HandoverStage:  # fmt: skip
    """Plan, submit, approve and run one stage; returns it delivered."""
    broker = broker or cast.broker
    stage = services.stage_create(
        actor=broker, deal=deal, name=name or f"{kind} stage", kind=kind, tier_scope=tiers
    )
    services.stage_submit(actor=broker, stage=stage)
    with capture(execute=True):
        services.stage_approve(actor=cast.compliance, stage=stage, note="Checked the preview.")
    stage.refresh_from_db()
    return stage


@dataclass
class Delivered:
    deal: TransferDeal
    other_deal: TransferDeal
    pseudo: HandoverStage
    identified: HandoverStage
    aggregate: HandoverStage
    draft: HandoverStage
    other_stage: HandoverStage
    customers: list[Any]


@pytest.fixture(scope="module")
def _portal_world(django_db_setup, django_db_blocker) -> tuple[Cast, Delivered, int]:
    """The cast and their delivered deals, built once per test module in a transaction that is
    rolled back when the module ends; each test runs in a savepoint inside it, so what one test
    writes is gone before the next (tests/support/world.py)."""
    with fast_password_hashing(), tasks_in_process(), shared_world(django_db_blocker):
        cast = make_cast()
        delivered = _deliver_deals(cast, capture=TestCase.captureOnCommitCallbacks)
        yield cast, delivered, AuditEvent.objects.count()


@pytest.fixture
def cast(_portal_world, db) -> Cast:
    """The named actors of the portal world, read afresh for each test."""
    built, _delivered, events = _portal_world
    assert AuditEvent.objects.count() == events, "an earlier test's writes leaked into this one"
    return Cast(**{name: fresh(value) for name, value in vars(built).items()})


@pytest.fixture
def delivered(_portal_world, cast) -> Delivered:
    """The delivered deals of the portal world, read afresh for each test."""
    built = _portal_world[1]
    return Delivered(
        **{name: fresh(value) for name, value in vars(built).items() if name != "customers"},
        customers=[fresh(customer) for customer in built.customers],
    )


def _deliver_deals(cast: Cast, *, capture: Any) -> Delivered:
    customers = make_customers(cast.seller, 12)
    # Values a spreadsheet would execute, in general fields every stage carries.
    for customer, field, value in FORMULAS:
        Customer.objects.filter(pk=customers[customer].pk).update(**{field: value})
    deal = make_deal(cast)
    other = make_deal(
        cast, reference="D-2", buyer=cast.other_buyer_org, broker=cast.other_broker,
        buyer_user=cast.other_buyer,
    )  # fmt: skip
    open_notice_window(deal)
    cap = capture
    pseudo = deliver(cast, deal, StageKind.PSEUDONYMISED, [Tier.GENERAL], name="Overview",
                     capture=cap)  # fmt: skip
    identified = deliver(cast, deal, StageKind.IDENTIFIED, [Tier.GENERAL, Tier.SENSITIVE],
                         name="Contacts", capture=cap)  # fmt: skip
    aggregate = deal_stage = deliver(cast, deal, StageKind.AGGREGATE, [Tier.GENERAL],
                                     name="Book statistics", capture=cap)  # fmt: skip
    del deal_stage
    draft = services.stage_create(
        actor=cast.broker, deal=deal, name="Later", kind=StageKind.PSEUDONYMISED,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    other_stage = deliver(
        cast, other, StageKind.PSEUDONYMISED, [Tier.GENERAL], name="Bidder B overview",
        capture=cap, broker=cast.other_broker,
    )  # fmt: skip
    for d, user in ((deal, cast.buyer), (other, cast.other_buyer)):
        nda = services.nda_publish(actor=cast.broker if d == deal else cast.other_broker,
                                   deal=d, text="Keep every record confidential.")  # fmt: skip
        services.nda_accept(actor=user, nda=nda, ip="10.0.0.1", user_agent="pytest")
    return Delivered(deal, other, pseudo, identified, aggregate, draft, other_stage, customers)
