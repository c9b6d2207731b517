"""Acknowledging receipt by confirming the signed manifest's root."""

from __future__ import annotations

import pytest
from django.urls import reverse

from transferdesk.trail import AuditAction, AuditEvent
from transfers.choices import StageStatus
from transfers.portal_models import StageAcknowledgement

pytestmark = pytest.mark.django_db


@pytest.fixture
def buyer(client, cast):
    client.force_login(cast.buyer)
    return client


def test_the_page_shows_the_root_with_offline_verification_and_receipt_links(buyer, delivered):
    stage = delivered.pseudo
    page = buyer.get(reverse("portal:acknowledge", args=[stage.pk])).content.decode()
    assert stage.manifest.merkle_root in page
    assert reverse("portal:receipt", args=[stage.pk]) in page
    assert reverse("portal:manifest", args=[stage.pk]) in page
    assert "Verify it offline" in page


def test_the_right_root_acknowledges_the_stage_and_records_who_when_which(buyer, cast, delivered):
    stage = delivered.pseudo
    root = stage.manifest.merkle_root
    url = reverse("portal:acknowledge", args=[stage.pk])
    response = buyer.post(url, {"merkle_root": f"  {root.upper()[:32]}\n{root.upper()[32:]} "})
    assert response.status_code == 302
    stage.refresh_from_db()
    assert stage.status == StageStatus.ACKNOWLEDGED
    ack = StageAcknowledgement.objects.get(stage=stage)
    assert (ack.user, ack.merkle_root) == (cast.buyer, root)
    event = AuditEvent.objects.get(action=AuditAction.ACKNOWLEDGED, object_id=str(stage.pk))
    assert event.details["merkle_root"] == root and event.actor_id == cast.buyer.pk
    page = buyer.get(url).content.decode()
    assert "Receipt acknowledged" in page and "Confirm receipt" not in page
    # Twice is refused clearly, and the acknowledged stage stays readable.
    response = buyer.post(url, {"merkle_root": root}, follow=True)
    assert "already been acknowledged" in response.content.decode()
    assert buyer.get(reverse("portal:stage", args=[stage.pk])).status_code == 200


def test_a_wrong_root_is_refused_with_a_clear_message(buyer, delivered):
    stage = delivered.pseudo
    wrong = delivered.identified.manifest.merkle_root
    response = buyer.post(reverse("portal:acknowledge", args=[stage.pk]), {"merkle_root": wrong})
    assert response.status_code == 200
    assert "does not match the stage" in response.content.decode()
    stage.refresh_from_db()
    assert stage.status == StageStatus.DELIVERED
    assert not StageAcknowledgement.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.ACKNOWLEDGED).exists()


def test_the_receipt_downloads_are_the_signed_ones(buyer, delivered):
    stage = delivered.pseudo
    pdf = buyer.get(reverse("portal:receipt", args=[stage.pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    bundle = buyer.get(reverse("portal:manifest", args=[stage.pk])).json()
    from transfers.receipts import verify_bundle

    assert bundle["manifest"]["merkle_root"] == stage.manifest.merkle_root
    assert verify_bundle(bundle) is not None


def test_a_wrong_root_is_audited_as_refused_and_changes_nothing_else(buyer, cast, delivered):
    """The refusal survives the rolled-back acknowledgement: its event is written on its own."""
    stage = delivered.pseudo
    wrong = delivered.identified.manifest.merkle_root
    before = AuditEvent.objects.count()
    response = buyer.post(
        reverse("portal:acknowledge", args=[stage.pk]), {"merkle_root": f"sha256:{wrong.upper()}"}
    )
    assert response.status_code == 200 and "does not match the stage" in response.content.decode()
    refused = AuditEvent.objects.filter(action=AuditAction.ACKNOWLEDGE_REFUSED)
    assert AuditEvent.objects.count() == before + 1 and refused.count() == 1
    event = refused.get()
    assert event.actor_id == cast.buyer.pk
    assert (event.object_type, event.object_id) == ("transfers.handoverstage", str(stage.pk))
    assert event.deal_ref == str(stage.deal_id)
    # A prefix to tell which receipt was verified instead, never the whole typed value.
    assert event.details == {"stage": str(stage.pk), "root_prefix": wrong[:16]}
    stage.refresh_from_db()
    assert stage.status == StageStatus.DELIVERED
    assert not StageAcknowledgement.objects.exists()
    # The right root still acknowledges, once; a second try is no refusal of the root.
    url = reverse("portal:acknowledge", args=[stage.pk])
    root = stage.manifest.merkle_root
    assert buyer.post(url, {"merkle_root": root}).status_code == 302
    assert buyer.post(url, {"merkle_root": root}).status_code == 302
    assert StageAcknowledgement.objects.count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.ACKNOWLEDGED).count() == 1
    assert refused.count() == 1


def test_a_refused_root_is_recorded_even_when_the_service_raises(cast, delivered):
    from django.core.exceptions import ValidationError

    from transfers.portal_services import stage_acknowledge

    stage = delivered.aggregate
    with pytest.raises(ValidationError):
        stage_acknowledge(stage=stage, actor=cast.buyer, merkle_root="0" * 64)
    event = AuditEvent.objects.get(action="acknowledge_refused")
    assert event.details["root_prefix"] == "0" * 16 and event.actor_id == cast.buyer.pk
