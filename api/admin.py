"""API keys in the Django admin: shown, never made or changed there (keys are issued on the
keys page after a fresh second factor, through the audited services)."""

from __future__ import annotations

from django.contrib import admin
from rest_framework_api_key.models import APIKey

from transferdesk.admin import ReadOnlyAdmin

from .models import OrganizationAPIKey

# The library's own key model is unused (keys belong to organisations here): not offered.
admin.site.unregister(APIKey)


@admin.register(OrganizationAPIKey)
class OrganizationAPIKeyAdmin(ReadOnlyAdmin):
    list_display = ("prefix", "name", "organization", "created", "last_used_at", "revoked")
    list_filter = ("revoked", "organization")
    list_select_related = ("organization",)
    search_fields = ("prefix", "name")
    exclude = ("hashed_key",)
