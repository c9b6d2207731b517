"""Data keys (envelope encryption) and the abstract base of models with encrypted fields."""

from __future__ import annotations

import os
import uuid
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import aead
from .errors import DataKeyDestroyed
from .keyring import KEY_BYTES, Keyring, get_keyring


class DataKeyPurpose(models.TextChoices):
    CUSTOMER = "customer", _("Customer record")
    DEAL = "deal", _("Deal (handover snapshots)")


class DataKeyQuerySet(models.QuerySet["DataKey"]):
    def live(self) -> DataKeyQuerySet:
        return self.filter(destroyed_at__isnull=True)

    def needing_rotation(self, active_id: str) -> DataKeyQuerySet:
        """Live keys wrapped under any master key other than the active one."""
        return self.live().exclude(master_key_id=active_id)


class DataKey(models.Model):
    """A random 256-bit key that encrypts one customer's (or one deal's) fields.

    Stored only wrapped (AES-GCM) under a master key from the keyring, with that key's id, so
    rotating the master key re-wraps these 32-byte keys instead of re-encrypting the data.
    Destroying a data key wipes the wrapped key and keeps the row as a tombstone: every value
    ever encrypted under it, history rows and snapshots included, becomes unreadable at once,
    and the tombstone records when that happened.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(_("purpose"), max_length=16, choices=DataKeyPurpose.choices)
    master_key_id = models.CharField(_("master key id"), max_length=32, db_index=True)
    wrapped_key = models.BinaryField(_("wrapped key"), null=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    rotated_at = models.DateTimeField(_("last re-wrapped"), null=True, blank=True)
    destroyed_at = models.DateTimeField(_("destroyed"), null=True, blank=True)

    objects = DataKeyQuerySet.as_manager()

    class Meta:
        verbose_name = _("data key")
        verbose_name_plural = _("data keys")
        constraints = [
            models.CheckConstraint(
                condition=Q(destroyed_at__isnull=True, wrapped_key__isnull=False)
                | Q(destroyed_at__isnull=False, wrapped_key__isnull=True),
                name="datakey_wrapped_unless_destroyed",
                violation_error_message=_(
                    "A data key holds its wrapped key until it is destroyed, and none after."
                ),
            )
        ]

    def __str__(self) -> str:
        state = "destroyed" if self.destroyed_at else f"under {self.master_key_id}"
        return f"{self.get_purpose_display()} key {self.id} ({state})"

    def __getstate__(self) -> dict[str, Any]:
        # Never let the unwrapped key travel with a pickled instance (caches, task payloads).
        state = super().__getstate__()
        state.pop("_unwrapped", None)
        return state

    @classmethod
    def build(cls, *, purpose: str, keyring: Keyring | None = None) -> DataKey:
        """A new random data key wrapped under the active master key, not yet saved (imports
        create many at once with ``bulk_create``)."""
        key = cls(purpose=purpose)
        key._wrap(os.urandom(KEY_BYTES), keyring or get_keyring())
        return key

    @classmethod
    def generate(cls, *, purpose: str, keyring: Keyring | None = None) -> DataKey:
        """Create and save a new random data key wrapped under the active master key."""
        key = cls.build(purpose=purpose, keyring=keyring)
        key.save(force_insert=True)
        return key

    @property
    def is_destroyed(self) -> bool:
        return self.destroyed_at is not None

    def _aad(self, master_key_id: str) -> bytes:
        return self.wrap_aad(self.id, master_key_id)

    @staticmethod
    def wrap_aad(key_id: Any, master_key_id: str) -> bytes:
        # Binds the wrapped key to this row and to the id of the master key that wrapped it.
        return f"transferdesk.DataKey|{key_id}|{master_key_id}".encode()

    def _wrap(self, raw: bytes, keyring: Keyring) -> None:
        self.master_key_id = keyring.active_id
        self.wrapped_key = aead.encrypt(keyring.active_key(), raw, self._aad(keyring.active_id))
        self._unwrapped = raw

    def unwrap(self) -> bytes:
        """The raw data key. Raises ``DataKeyDestroyed`` or ``MissingMasterKey`` clearly."""
        cached = self.__dict__.get("_unwrapped")
        if cached is not None:
            return cached
        raw = self.unwrap_stored(self.id, self.master_key_id, self.wrapped_key, self.destroyed_at)
        self._unwrapped = raw
        return raw

    @classmethod
    def unwrap_stored(
        cls,
        key_id: Any,
        master_key_id: str,
        wrapped_key: bytes | memoryview | None,
        destroyed_at: Any,
        *,
        masters: dict[str, aead.Cipher] | None = None,
    ) -> bytes:
        """``unwrap`` from the stored columns of a key, for bulk readers that skip model
        instances (the handover engine): same checks, same errors. ``masters`` caches the
        master keys' ciphers across calls."""
        if destroyed_at is not None or wrapped_key is None:
            raise DataKeyDestroyed(
                f"data key {key_id} was destroyed"
                + (f" on {destroyed_at:%Y-%m-%d %H:%M} UTC" if destroyed_at else "")
                + "; the records it protected cannot be read any more"
            )
        master = masters.get(master_key_id) if masters is not None else None
        if master is None:
            master = aead.Cipher(get_keyring().key(master_key_id))
            if masters is not None:
                masters[master_key_id] = master
        return master.decrypt(
            wrapped_key,
            cls.wrap_aad(key_id, master_key_id),
            what=f"data key {key_id} under master key {master_key_id!r}",
        )

    def rewrap(self, keyring: Keyring | None = None) -> bool:
        """Re-wrap under the active master key (unsaved). False if it already is."""
        keyring = keyring or get_keyring()
        if self.master_key_id == keyring.active_id:
            return False
        raw = self.unwrap()
        self._wrap(raw, keyring)
        self.rotated_at = timezone.now()
        return True

    def destroy(self) -> None:
        """Wipe the wrapped key and stamp the tombstone (saved). Irreversible by design."""
        self.wrapped_key = None
        self.__dict__.pop("_unwrapped", None)
        self.destroyed_at = timezone.now()
        self.save(update_fields=["wrapped_key", "destroyed_at"])


class EncryptedModel(models.Model):
    """Base of models with encrypted fields.

    Subclasses name the data key that encrypts them with ``data_key_path``: a dotted attribute
    path from an instance to its ``DataKey`` (``"data_key"`` on a customer,
    ``"customer.data_key"`` on its purchase records). The same path is followed on the
    historical rows of django-simple-history, which copy foreign keys.
    """

    data_key_path: str = "data_key"

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Keep blind indexes in step with their sources when a caller lists update_fields:
        # a saved e-mail with a stale index would make search lie.
        from .fields import blind_index_fields_for

        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            extra = blind_index_fields_for(self, update_fields)
            if extra:
                kwargs["update_fields"] = [*update_fields, *extra]
        super().save(*args, **kwargs)

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        # Django copies each field from a freshly loaded instance with getattr/setattr. Doing
        # that in raw mode copies ciphertext, so a refresh neither decrypts every field nor
        # marks them changed.
        from .fields import raw_ciphertext

        with raw_ciphertext():
            super().refresh_from_db(*args, **kwargs)

    def clean(self) -> None:
        """Compute pending blind indexes so that unique constraints validate against them."""
        from .fields import sync_blind_indexes

        super().clean()
        sync_blind_indexes(self)
