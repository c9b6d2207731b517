from __future__ import annotations

from django.contrib import admin

from .models import DataKey


@admin.register(DataKey)
class DataKeyAdmin(admin.ModelAdmin):
    """Data keys are listed for operators (which master key wraps them, tombstones); the key
    material, even wrapped, is never shown, and keys are changed only by the services."""

    list_display = ("id", "purpose", "master_key_id", "created_at", "rotated_at", "destroyed_at")
    list_filter = ("purpose", "master_key_id")
    fields = ("id", "purpose", "master_key_id", "created_at", "rotated_at", "destroyed_at")
    readonly_fields = fields

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False
