from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from transferdesk.admin import ReadOnlyAdmin
from transferdesk.crypto.admin import MaskedHistoryAdmin, masked_personal_data

from .choices import OrganizationKind
from .models import (
    Customer,
    IdentityProvider,
    ImportUpload,
    Interaction,
    Organization,
    PurchaseRecord,
)
from .services import organization_admin_save


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("legal_name", "slug", "kind", "country", "book_access")
    list_filter = ("kind", "country")
    search_fields = ("legal_name", "slug", "registration_number")
    prepopulated_fields = {"slug": ("legal_name",)}
    actions = None

    def save_model(self, request: Any, obj: Organization, form: Any, change: bool) -> None:
        """Through the service the trail depends on: the save and its audit event together."""
        organization_admin_save(
            actor=request.user, organization=obj, changed=form.changed_data, created=not change
        )

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        # An organisation's deletion would cascade to its invitations and imports and is
        # refused by its users and deals anyway: organisations are kept, never deleted.
        return False

    @admin.display(description=_("Access to the book"))
    def book_access(self, obj: Organization) -> str:
        """Who holds the book is given and taken on its own audited page, not in the admin's
        permission screens (which would bypass the GRANT and REVOKE events)."""
        if obj.kind != OrganizationKind.SELLER:
            return "—"
        url = reverse("customers:book_access", kwargs={"slug": obj.slug})
        return format_html('<a href="{}">{}</a>', url, _("Manage"))


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
class ImportUploadAdmin(ReadOnlyAdmin):
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


@admin.register(IdentityProvider)
class IdentityProviderAdmin(ReadOnlyAdmin):
    """Set up, changed and ended on compliance's single sign-on page (``sso.configure``)."""

    list_display = ("organization", "app", "second_factor_acr", "updated_at")
