from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .models import Invitation, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "organization", "is_active", "is_staff")
    list_filter = ("is_active", "is_staff", "groups", "organization")
    list_select_related = ("organization",)
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        (_("Organisation"), {"fields": ("organization",)}),
        (_("Language"), {"fields": ("language",)}),
    )


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Invitations, to look at: they are made, accepted and revoked on the site's pages, through
    the audited services (an admin form would bypass the events). The token's hash is not
    shown: it opens nothing, but has no reader either."""

    list_display = (
        "email", "role", "organization", "deal", "invited_by", "created_at", "expires_at",
        "accepted_at", "revoked_at",
    )  # fmt: skip
    list_filter = ("role", "organization")
    list_select_related = ("organization", "deal", "invited_by")
    search_fields = ("email",)
    exclude = ("token_sha256",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
