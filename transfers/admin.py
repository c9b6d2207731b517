"""Admin registrations: deals and stages read-only for operators (no snapshots shown)."""

from __future__ import annotations

from django.contrib import admin

from .models import DealAssignment, HandoverStage, TransferDeal


@admin.register(TransferDeal)
class TransferDealAdmin(admin.ModelAdmin):
    list_display = ("reference", "title", "seller", "buyer", "status")
    readonly_fields = ("signing_key_fingerprint",)


@admin.register(DealAssignment)
class DealAssignmentAdmin(admin.ModelAdmin):
    list_display = ("deal", "user", "role", "assigned_at")


@admin.register(HandoverStage)
class HandoverStageAdmin(admin.ModelAdmin):
    list_display = ("deal", "order", "name", "kind", "status", "done", "total")
