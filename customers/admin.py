from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from transferdesk.crypto.admin import MaskedHistoryAdmin, masked_personal_data

from .models import Customer, ImportUpload, Interaction, Organization, PurchaseRecord


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("legal_name", "slug", "kind", "country")
    list_filter = ("kind", "country")
    search_fields = ("legal_name", "slug", "registration_number")
    prepopulated_fields = {"slug": ("legal_name",)}


@admin.register(Customer)
class CustomerAdmin(MaskedHistoryAdmin):
    """Reference, organisation and general fields; personal data masked, history masked."""

    list_display = ("reference", "organization", "status", "segment", "country", "personal")
    list_filter = ("status", "organization", "country", "legal_basis")
    list_select_related = ("organization",)
    search_fields = ("reference",)  # exact-search by e-mail/phone goes through the blind index

    @admin.display(description=_("personal data"))
    def personal(self, obj: Customer) -> str:
        return masked_personal_data(obj)


@admin.register(PurchaseRecord)
class PurchaseRecordAdmin(MaskedHistoryAdmin):
    list_display = ("customer", "purchased_on", "product", "amount", "currency")
    list_select_related = ("customer",)


@admin.register(Interaction)
class InteractionAdmin(MaskedHistoryAdmin):
    list_display = ("customer", "occurred_on", "channel")
    list_select_related = ("customer",)


@admin.register(ImportUpload)
class ImportUploadAdmin(admin.ModelAdmin):
    """Imports and their outcome, read-only; the encrypted file itself is never shown (and is
    gone once the import ends)."""

    list_display = (
        "created_at",
        "organization",
        "uploaded_by",
        "file_format",
        "row_count",
        "status",
    )
    list_filter = ("status", "organization")
    list_select_related = ("organization", "uploaded_by")
    exclude = ("content",)

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False
