from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import DataKey


class ReadOnlyAdminMixin:
    """View only, whatever the operator's permissions (superusers included): no add, change
    or delete, and no bulk actions. For every model whose integrity the guarantees depend on
    (deals, stages, the trail, keys…): a change form or a delete would be a door around the
    services and their audit events. Mix in before the ``ModelAdmin`` class it restricts."""

    actions: Any = None

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """A ``ModelAdmin`` that only shows."""


@admin.register(DataKey)
class DataKeyAdmin(ReadOnlyAdmin):
    """Data keys are listed for operators (which master key wraps them, tombstones); the key
    material, even wrapped, is never shown, and keys are changed only by the services."""

    list_display = ("id", "purpose", "master_key_id", "created_at", "rotated_at", "destroyed_at")
    list_filter = ("purpose", "master_key_id")
    fields = ("id", "purpose", "master_key_id", "created_at", "rotated_at", "destroyed_at")
    readonly_fields = fields
