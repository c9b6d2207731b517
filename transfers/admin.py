"""Admin registrations: every transfers model is read-only for operators.

The guarantees of deals, stages and handovers (four eyes, the notices, exactly-once delivery,
the deal key) live in ``services`` and the engine; a change form would be a door around them
(an operator widening an approved stage to identified, all tiers; a deal saved without its
key). So operators may look, never add, change or delete: every change goes through the
pages and their services. No snapshot, seal or signature is shown.
"""

from __future__ import annotations

from django.contrib import admin

from transferdesk.admin import ReadOnlyAdmin

from .models import (
    DealAssignment,
    HandoverItem,
    HandoverStage,
    Nda,
    NdaAcceptance,
    StageApproval,
    StageManifest,
    TransferDeal,
)


@admin.register(TransferDeal)
class TransferDealAdmin(ReadOnlyAdmin):
    list_display = ("reference", "title", "seller", "buyer", "status")
    list_select_related = ("seller", "buyer")


@admin.register(DealAssignment)
class DealAssignmentAdmin(ReadOnlyAdmin):
    list_display = ("deal", "user", "role", "assigned_at")
    list_select_related = ("deal", "user")


@admin.register(Nda)
class NdaAdmin(ReadOnlyAdmin):
    list_display = ("deal", "version", "published_by", "published_at")
    list_select_related = ("deal", "published_by")


@admin.register(NdaAcceptance)
class NdaAcceptanceAdmin(ReadOnlyAdmin):
    list_display = ("nda", "user", "accepted_at")
    list_select_related = ("nda", "user")


@admin.register(HandoverStage)
class HandoverStageAdmin(ReadOnlyAdmin):
    list_display = ("deal", "order", "name", "kind", "status", "done", "total")
    list_select_related = ("deal",)


@admin.register(StageApproval)
class StageApprovalAdmin(ReadOnlyAdmin):
    list_display = ("stage", "kind", "requested_by", "approved_by", "approved_at", "customers")
    list_select_related = ("stage", "requested_by", "approved_by")
    exclude = ("seal",)


@admin.register(HandoverItem)
class HandoverItemAdmin(ReadOnlyAdmin):
    """Which customer went to whom in which stage; never the (encrypted) snapshot."""

    list_display = ("stage", "customer_id", "recipient", "created_at")
    list_select_related = ("stage", "recipient")
    exclude = ("snapshot",)
    show_full_result_count = False  # a stage may hold 100,000 items


@admin.register(StageManifest)
class StageManifestAdmin(ReadOnlyAdmin):
    list_display = ("stage", "item_count", "merkle_root", "created_at")
    list_select_related = ("stage",)
