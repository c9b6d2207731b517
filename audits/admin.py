"""Admin registrations: the audit trail is visible to operators and changeable by nobody."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from transferdesk.trail import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: no add, change or delete, whatever the operator's permissions."""

    list_display = ("seq", "time", "action", "actor_name", "object_type", "object_id", "deal_ref")
    list_filter = ("action",)
    search_fields = ("=object_id", "=deal_ref", "=request_id", "actor_name")
    date_hierarchy = "time"
    ordering = ("-seq",)
    list_select_related = ("actor",)
    show_full_result_count = False  # counting a long trail on every page is slow
    actions = None

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in AuditEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
