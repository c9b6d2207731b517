"""django-simple-history for models with encrypted fields.

simple-history copies each field with ``getattr(instance, field.attname)``; on an encrypted
field that would decrypt the value and the historical row would encrypt it again. Here the
copies run in raw mode, so a history row holds exactly the live row's ciphertext: destroying
the data key makes history unreadable too, and copying a value needs no key at all (a record
whose key is already destroyed can still be marked erased).

Reading a historical row decrypts with the original model's associated data (model label,
field name, the original object's primary key): see ``fields.EncryptedField.location``.
"""

from __future__ import annotations

from typing import Any

from simple_history.models import HistoricalRecords
from simple_history.utils import bulk_create_with_history

from transferdesk.principals import is_machine

from .fields import raw_ciphertext


class EncryptedHistoricalRecords(HistoricalRecords):
    """``HistoricalRecords`` whose copies carry ciphertext, never plaintext."""

    def get_history_user(self, instance: Any) -> Any:
        user = super().get_history_user(instance)
        # During an API call the request's user is the key's MachinePrincipal, no user row:
        # its history rows name nobody (the change's audit event names the key).
        return None if is_machine(user) else user

    def create_historical_record(self, instance: Any, history_type: str, using: Any = None):
        with raw_ciphertext():
            return super().create_historical_record(instance, history_type, using=using)

    def get_extra_fields(self, model: Any, fields: Any) -> dict[str, Any]:
        extra = super().get_extra_fields(model, fields)
        to_instance = extra["instance"].fget

        def get_instance(history_row: Any) -> Any:
            # The rebuilt live-model instance gets the ciphertext; it decrypts lazily (under
            # the same associated data) when and if a field is read.
            with raw_ciphertext():
                return to_instance(history_row)

        extra["instance"] = property(get_instance)
        extra["history_object"] = _RawCopy(extra["history_object"])
        return extra


class _RawCopy:
    """Wraps simple-history's ``history_object`` descriptor so that it copies ciphertext too
    (it backs ``str()`` of a historical row, which must work after the key is destroyed)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        with raw_ciphertext():
            return self.inner.__get__(instance, owner)


def bulk_create_with_encrypted_history(objs: list[Any], model: Any, **kwargs: Any) -> list[Any]:
    """``bulk_create_with_history`` for encrypted models (imports): encrypts each changed value
    once in ``bulk_create`` and copies that ciphertext into the history rows.

    Primary keys are UUIDs set before insert, so simple-history takes its one-pass path on
    every database.
    """
    with raw_ciphertext():
        return bulk_create_with_history(objs, model, **kwargs)
