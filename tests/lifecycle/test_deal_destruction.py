"""A cancelled deal or a losing bidder ends in destruction (DESIGN.md guarantee 9)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from audits.models import DestructionCertificate
from audits.retention import customer_erase, deal_destroy, deal_destruction_attest, legal_hold_place
from customers.choices import Tier
from tests.transfers.conftest import make_customers, make_deal, open_notice_window
from tests.transfers.test_engine import _on_commit, run  # noqa: F401 - fixture reused
from transferdesk.crypto.errors import DataKeyDestroyed, DecryptionError
from transfers import engine
from transfers.choices import StageKind
from transfers.models import HandoverItem
from transfers.services import nda_accept, nda_publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered(cast):
    deal = make_deal(cast, reference="D-LOSE")
    make_customers(cast.seller, 4)
    open_notice_window(deal)
    stage = run(cast, deal, StageKind.IDENTIFIED, [Tier.GENERAL, Tier.SENSITIVE])
    assert stage.items.count() == 4
    return deal, stage


def test_deal_destruction_makes_every_snapshot_unreadable_and_closes_the_portal(
    cast, client, delivered
):
    deal, stage = delivered
    nda = nda_publish(actor=cast.broker, deal=deal, text="Keep it confidential.")
    nda_accept(actor=cast.buyer, nda=nda)
    client.force_login(cast.buyer)
    stage_url = reverse("portal:stage", kwargs={"pk": stage.pk})
    assert client.get(stage_url).status_code == 200

    destruction = deal_destroy(actor=cast.compliance, deal=deal, reason="losing_bidder")

    assert destruction.items_unreadable == 4 and destruction.revoked_permissions >= 2
    deal.refresh_from_db()
    assert deal.status == "cancelled" and deal.data_key.is_destroyed
    for item in HandoverItem.objects.filter(stage__deal=deal):
        with pytest.raises(DataKeyDestroyed):
            engine.decrypt_item(item, deal.data_key.unwrap())
    assert client.get(stage_url).status_code in (404, 410)  # gone, never shown

    deal_destruction_attest(actor=cast.buyer, destruction=destruction, attestation="destroyed")
    certificate = DestructionCertificate.objects.get(deal_destruction=destruction)
    assert bytes(certificate.pdf).startswith(b"%PDF") and certificate.key_count == 1
    with pytest.raises(ValidationError):
        deal_destroy(actor=cast.compliance, deal=deal, reason="cancelled")


def test_a_held_deal_is_not_destroyed(cast, delivered):
    deal, _stage = delivered
    legal_hold_place(actor=cast.compliance, deal=deal, reason="Litigation hold L-4")
    with pytest.raises(ValidationError, match="legal hold"):
        deal_destroy(actor=cast.compliance, deal=deal, reason="cancelled")


def test_erasing_a_handed_over_customer_wipes_their_snapshots(cast, delivered):
    deal, stage = delivered
    item = stage.items.first()
    from customers.models import Customer

    customer_erase(
        actor=cast.compliance, customer=Customer.objects.get(pk=item.customer_id), request_ref="R-9"
    )
    item.refresh_from_db()
    assert bytes(item.snapshot) == b""
    with pytest.raises(DecryptionError):
        engine.decrypt_item(item, deal.data_key.unwrap())
    # The other customers' snapshots still read.
    other = stage.items.exclude(pk=item.pk).first()
    assert engine.decrypt_item(other, deal.data_key.unwrap())["fields"]
