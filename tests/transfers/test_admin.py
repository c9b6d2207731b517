"""The transfers admin is a window, not a door: a superuser can look at deals, stages and
their records but not add, change or delete them (issue: the admin approved and widened a
stage with no compliance approval, and added deals without their key)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from customers.choices import Tier
from transferdesk.celery import app
from transfers import engine, services
from transfers.choices import StageKind, StageStatus
from transfers.models import HandoverItem, HandoverStage, TransferDeal

from .conftest import make_customers

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, cast):
    assert cast.admin.is_superuser
    client.force_login(cast.admin)
    return client


@pytest.fixture
def eager():
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def draft(cast, deal):
    """A pseudonymised draft on a deal that has sent no notices."""
    make_customers(cast.seller, 6)
    return services.stage_create(
        actor=cast.broker, deal=deal, name="Overview", kind=StageKind.PSEUDONYMISED,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip


def split(moment):
    local = timezone.localtime(moment)
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")


def widened_stage_form(stage, cast):
    """Every field of the stage's change form as an operator would save it: identified, all
    tiers, approved an hour ago by the compliance officer."""
    day, time = split(timezone.now() - timedelta(hours=1))
    return {
        "deal": str(stage.deal_id),
        "order": stage.order,
        "name": stage.name,
        "kind": StageKind.IDENTIFIED,
        "tier_scope": '["general", "sensitive", "core"]',
        "selection": "{}",
        "status": StageStatus.APPROVED,
        "preview": "{}",
        "exclusions": "{}",
        "result": "{}",
        "created_by": cast.broker.pk,
        "submitted_by": cast.broker.pk,
        "submitted_at_0": day,
        "submitted_at_1": time,
        "approved_by": cast.compliance.pk,
        "approved_at_0": day,
        "approved_at_1": time,
        "approval_note": "ok",
        "rejected_by": "",
        "rejection_reason": "",
        "failure_reason": "",
        "refusal": "",
        "done": 0,
        "total": 6,
        "skipped": 0,
        "lease": "",
        "_save": "Save",
    }


def test_a_superuser_cannot_approve_and_widen_a_stage_in_the_admin(
    admin_client, cast, draft, eager
):
    url = reverse("admin:transfers_handoverstage_change", args=[draft.pk])
    assert admin_client.get(url).status_code == 200  # operators still see it
    response = admin_client.post(url, widened_stage_form(draft, cast))
    assert response.status_code == 403
    draft.refresh_from_db()
    assert (draft.status, draft.kind, draft.tier_scope) == (
        StageStatus.DRAFT, StageKind.PSEUDONYMISED, [Tier.GENERAL],
    )  # fmt: skip
    engine.sweep(older_than=timedelta(0))
    assert not HandoverItem.objects.exists()


def test_a_superuser_cannot_delete_a_stage_in_the_admin(admin_client, draft):
    url = reverse("admin:transfers_handoverstage_delete", args=[draft.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert HandoverStage.objects.filter(pk=draft.pk).exists()


def test_the_deal_admin_offers_no_editable_buyer_and_refuses_a_change(admin_client, cast, deal):
    url = reverse("admin:transfers_transferdeal_change", args=[deal.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="buyer"' not in page and 'name="_save"' not in page
    response = admin_client.post(
        url,
        {
            "reference": deal.reference, "title": deal.title, "seller": cast.seller.pk,
            "buyer": cast.other_buyer_org.pk, "status": deal.status, "purposes": deal.purposes,
            "legal_basis": deal.legal_basis,
        },
    )  # fmt: skip
    assert response.status_code == 403
    deal.refresh_from_db()
    assert deal.buyer_id == cast.buyer_org.pk


def test_adding_a_deal_in_the_admin_is_refused_cleanly_and_creates_nothing(admin_client, cast):
    before = TransferDeal.objects.count()
    response = admin_client.post(
        reverse("admin:transfers_transferdeal_add"),
        {
            "reference": "ADM-1", "title": "Added in the admin", "seller": cast.seller.pk,
            "buyer": cast.buyer_org.pk, "status": "draft", "purposes": "Anything",
            "legal_basis": "None",
        },
    )  # fmt: skip
    assert response.status_code == 403
    assert TransferDeal.objects.count() == before


def test_no_transfers_model_can_be_added_changed_or_deleted_in_the_admin(rf, cast):
    request = rf.get("/admin/")
    request.user = cast.admin
    registered = [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label == "transfers"
    ]
    assert {model.__name__ for model, _ in registered} >= {
        "TransferDeal", "DealAssignment", "HandoverStage", "HandoverItem", "Nda",
        "NdaAcceptance", "StageApproval",
    }  # fmt: skip
    for model, model_admin in registered:
        assert model_admin.has_view_permission(request), model
        assert not model_admin.has_add_permission(request), model
        assert not model_admin.has_change_permission(request), model
        assert not model_admin.has_delete_permission(request), model
