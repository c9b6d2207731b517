"""A cancelled deal or a losing bidder ends in destruction (DESIGN.md guarantee 9)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from audits.models import DestructionCertificate
from audits.retention import customer_erase, deal_destroy, deal_destruction_attest, legal_hold_place
from tests.transfers.conftest import make_deal
from transferdesk.crypto.errors import DataKeyDestroyed, DecryptionError
from transfers import engine
from transfers.models import HandoverItem
from transfers.services import nda_accept, nda_publish

pytestmark = pytest.mark.django_db


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


# --- the links that lead there -----------------------------------------------------------------

DESTROY_LABEL = "Destroy deal data"


def test_the_deal_page_offers_destruction_to_compliance_while_the_service_allows_it(cast, client):
    from transfers.models import TransferDeal

    deal = make_deal(cast, reference="D-OFFER")
    detail = reverse("transfers:deal_detail", args=[deal.pk])
    destroy = reverse("lifecycle:deal_destroy", args=[deal.pk])

    def offered(user) -> bool:
        client.force_login(user)
        page = client.get(detail).content.decode()
        assert (DESTROY_LABEL in page) == (destroy in page)
        return destroy in page

    assert offered(cast.compliance)
    assert not offered(cast.broker)  # the deal's own broker may not destroy it
    hold = legal_hold_place(actor=cast.compliance, deal=deal, reason="Case H")
    assert not offered(cast.compliance)
    from audits.retention import legal_hold_release

    legal_hold_release(actor=cast.compliance, hold=hold)
    TransferDeal.objects.filter(pk=deal.pk).update(status="completed")
    assert not offered(cast.compliance)
    TransferDeal.objects.filter(pk=deal.pk).update(status="cancelled")
    assert offered(cast.compliance)
    deal_destroy(actor=cast.compliance, deal=deal, reason="cancelled")
    assert not offered(cast.compliance)


def test_the_portal_asks_the_revoked_buyers_and_nobody_else_for_the_attestation(cast, client):
    from accounts.choices import Role
    from tests.factories import UserFactory

    colleague = UserFactory(username="buyer-colleague", organization=cast.buyer_org,
                            roles=[Role.BUYER])  # fmt: skip
    deal = make_deal(cast, reference="D-ATTEST")
    destruction = deal_destroy(actor=cast.compliance, deal=deal, reason="losing_bidder")
    attest = reverse("lifecycle:destruction_attest", args=[destruction.pk])
    home = reverse("portal:home")

    client.force_login(cast.buyer)
    page = client.get(home).content.decode()
    assert attest in page and "D-ATTEST" in page
    # A colleague who never was on the deal, and another bidder's buyer, see nothing of it.
    for user in (colleague, cast.other_buyer):
        client.force_login(user)
        page = client.get(home).content.decode()
        assert attest not in page and "D-ATTEST" not in page
        assert client.get(attest).status_code == 404

    client.force_login(cast.buyer)
    assert client.post(attest, {"attestation": "destroyed"}).status_code == 302
    assert attest not in client.get(home).content.decode()
    assert DestructionCertificate.objects.filter(deal_destruction=destruction).exists()


def test_the_destroy_page_says_why_a_deal_cannot_be_destroyed(cast, client):
    from transfers.models import TransferDeal

    deal = make_deal(cast, reference="D-DONE")
    TransferDeal.objects.filter(pk=deal.pk).update(status="completed")
    client.force_login(cast.compliance)
    page = client.get(reverse("lifecycle:deal_destroy", args=[deal.pk])).content.decode()
    assert "A completed deal is not destroyed: the buyer holds its data." in page
    assert 'class="btn btn-danger" disabled' in page
