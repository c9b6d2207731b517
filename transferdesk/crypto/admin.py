"""Admin building blocks that never show decrypted personal data.

Operators manage users, organisations and keys; they do not read customer records. These
classes keep encrypted fields out of admin forms and lists, and mask them in history views.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin
from simple_history.template_utils import HistoricalRecordContextHelper

from .fields import EncryptedField, raw_ciphertext

MASK = "••••••"


def plain_field_names(model: Any) -> list[str]:
    """Editable-looking fields of ``model`` that are stored in clear."""
    return [
        f.name
        for f in model._meta.fields
        if not isinstance(f, EncryptedField) and not f.name.endswith("_bidx")
    ]


class _MaskedContextHelper(HistoricalRecordContextHelper):
    def format_delta_change(self, change: Any) -> Any:
        field = self.model._meta.get_field(change.field)
        if isinstance(field, EncryptedField):
            # Which field changed is shown; the values, never.
            return dataclasses.replace(
                change, field=capfirst(field.verbose_name), old=MASK, new=MASK
            )
        return super().format_delta_change(change)


class MaskedHistoryAdmin(SimpleHistoryAdmin):
    """Read-only admin of an encrypted model: clear fields only, history masked, no revert."""

    def get_fields(self, request: Any, obj: Any = None) -> list[str]:
        return plain_field_names(self.model)

    def get_readonly_fields(self, request: Any, obj: Any = None) -> list[str]:
        return plain_field_names(self.model)

    def has_add_permission(self, request: Any) -> bool:
        return False  # records are created through services (validation, keys, audit)

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # erasure is crypto-shredding with a destruction record, not a delete

    def revert_disabled(self, request: Any, obj: Any = None) -> bool:
        return True

    def history_form_view(
        self, request: Any, object_id: str, version_id: str, extra_context: Any = None
    ) -> Any:
        """A version, to look at. django-simple-history saves whatever is POSTed here (a
        revert to that version, encrypted fields included) whatever ``revert_disabled`` says,
        with no service and no audit event: a POST is refused."""
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def get_historical_record_context_helper(self, request: Any, historical_record: Any) -> Any:
        return _MaskedContextHelper(self.model, historical_record)

    def set_history_delta_changes(self, request: Any, historical_records: Any, **kwargs: Any):
        # Compare ciphertext, not plaintext: unchanged fields keep their ciphertext, so the diff
        # is exact without decrypting anything (and works after the data key is destroyed).
        with raw_ciphertext():
            return super().set_history_delta_changes(request, historical_records, **kwargs)


@admin.display(description=_("personal data"))
def masked_personal_data(obj: Any) -> str:
    names = [str(f.verbose_name) for f in obj._meta.fields if isinstance(f, EncryptedField)]
    return _("{mask} (encrypted: {fields})").format(mask=MASK, fields=", ".join(names))
