"""Deals, stages and customers for the transfer tests, built through the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.choices import CustomerStatus
from tests.factories import CustomerFactory
from transfers import services
from transfers.choices import AssignmentRole


def make_deal(cast, *, reference="D-1", buyer=None, broker=None, buyer_user=None):
    broker = broker or cast.broker
    deal = services.deal_create(
        actor=broker,
        reference=reference,
        title=f"Deal {reference}",
        seller=cast.seller,
        buyer=buyer or cast.buyer_org,
        purposes="Continue the service contracts.",
        legal_basis="Contract (GDPR art. 6(1)(b))",
    )
    services.deal_assign(
        actor=broker, deal=deal, user=buyer_user or cast.buyer, role=AssignmentRole.BUYER
    )
    return deal


def open_notice_window(deal):
    """Stand-in for a notice campaign whose objection window has passed: the deal's campaigns
    end a day ago, and every customer of the seller that no campaign of the deal reached yet
    gets a sent notice in a stand-in campaign (customers whose notice failed or waits for a
    letter stay untold: the notice tests look at those)."""
    from customers.models import Customer
    from transfers.notice_models import (
        CampaignStatus,
        Notice,
        NoticeCampaign,
        NoticeStatus,
    )

    sent, closed = timezone.now() - timedelta(days=31), timezone.now() - timedelta(days=1)
    deal.notices_sent_at = sent
    deal.objection_window_closes_at = closed
    deal.save(update_fields=["notices_sent_at", "objection_window_closes_at"])
    NoticeCampaign.objects.filter(deal=deal).update(objection_deadline=closed)
    untouched = Customer.objects.filter(organization_id=deal.seller_id).exclude(
        pk__in=Notice.objects.filter(campaign__deal=deal).values("customer_id")
    )
    ids = list(untouched.values_list("pk", flat=True))
    if not ids:
        return
    campaign = NoticeCampaign.objects.create(
        deal=deal, status=CampaignStatus.SENT, objection_deadline=closed, sent_at=sent
    )
    Notice.objects.bulk_create(
        [
            Notice(campaign=campaign, customer_id=pk, status=NoticeStatus.SENT, sent_at=sent)
            for pk in ids
        ],
        batch_size=2000,
    )


def make_customers(org, n, *, statuses=None, segment="retail"):
    statuses = statuses or {}
    made = []
    for i in range(n):
        made.append(
            CustomerFactory(
                organization=org,
                segment=segment if i % 3 else "business",
                city="Shanghai",
                country="CN",
                status=statuses.get(i, CustomerStatus.ACTIVE),
                phone="+8613800000000",
                national_id=f"ID{i:06d}",
                preferences="Prefers e-mail",
            )
        )
    return made


@pytest.fixture
def deal(cast):
    d = make_deal(cast)
    make_deal(cast, reference="D-2", buyer=cast.other_buyer_org, broker=cast.other_broker,
              buyer_user=cast.other_buyer)  # fmt: skip
    return d


def bulk_customers(org, n, *, prefix="BULK", batch=1000):
    """Many customers quickly: data keys and customers in bulk inserts (encryption and blind
    indexes happen in the fields' ``pre_save``, as for one-by-one saves)."""
    from customers.models import Customer
    from transferdesk.models import DataKey, DataKeyPurpose

    for start in range(0, n, batch):
        keys = [
            DataKey.build(purpose=DataKeyPurpose.CUSTOMER) for _ in range(min(batch, n - start))
        ]
        DataKey.objects.bulk_create(keys)
        Customer.objects.bulk_create(
            [
                Customer(
                    organization=org,
                    reference=f"{prefix}-{start + i:07d}",
                    data_key=key,
                    segment=("retail", "business", "premium")[(start + i) % 3],
                    city="Hangzhou",
                    country="CN",
                    full_name=f"Customer {start + i}",
                    email=f"c{start + i}@{prefix.lower()}.example",
                    phone="+8613800000000",
                    postal_address="1 Example Road",
                    national_id=f"N{start + i:09d}",
                    bank_account="CN00 0000 0000",
                )
                for i, key in enumerate(keys)
            ]
        )


@pytest.fixture
def roles(transactional_db):
    """Role groups come from a data migration, which a transactional test's flush removes."""
    from django.contrib.auth.models import Group

    from accounts.choices import Role

    for role in Role:
        Group.objects.get_or_create(name=role.value)


@pytest.fixture
def tcast(roles):
    from tests.factories import make_cast

    return make_cast()
