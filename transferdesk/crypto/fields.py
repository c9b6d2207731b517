"""Encrypted model fields and the blind-index field that makes them searchable.

The database column of an encrypted field holds only ``aead`` ciphertext, encrypted under the
data key that the instance names (``EncryptedModel.data_key_path``), with associated data
``"<app_label>.<Model>|<field>|<pk>"``: a value copied to another row or another field does
not decrypt. Primary keys are UUIDs generated before insert, so the associated data is known
before the first save.

On the instance, the attribute holds a small slot (ciphertext, plaintext once known, whether
it changed). Reading the attribute decrypts lazily on first access and caches the plaintext on
that instance only; assigning plaintext marks the slot changed, and ``pre_save`` encrypts it.
Unchanged values keep their ciphertext, so saving a record does not touch fields it did not
change, and simple-history diffs of ciphertext show which fields changed.

Inside ``raw_ciphertext()`` reading an encrypted attribute returns its ``Ciphertext`` and
assigning a ``Ciphertext`` stores it as is: that is how history rows and refreshes copy values
without decrypting them.
"""

from __future__ import annotations

import base64
import pickle
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django import forms
from django.core import validators
from django.db import models

from . import aead
from .blind_index import blind_index, normalise_text
from .errors import CryptoError, DataKeyDestroyed, MissingMasterKey, PlaintextInQuery

if TYPE_CHECKING:
    from .models import DataKey

_RAW: ContextVar[bool] = ContextVar("transferdesk_raw_ciphertext", default=False)
_UNKNOWN: Any = object()


@contextmanager
def raw_ciphertext() -> Iterator[None]:
    """Within this block encrypted attributes read and accept ``Ciphertext``, not plaintext."""
    token = _RAW.set(True)
    try:
        yield
    finally:
        _RAW.reset(token)


class Ciphertext(bytes):
    """Bytes read from, or bound for, an encrypted column. Its repr says so and no more."""

    def __repr__(self) -> str:
        return f"<Ciphertext {len(self)} bytes>"

    __str__ = __repr__


class _Slot:
    """The state of one encrypted attribute on one instance. Its repr never shows a value."""

    __slots__ = ("ciphertext", "dirty", "indexed", "plaintext")

    def __init__(
        self, ciphertext: Ciphertext | None, plaintext: Any, *, dirty: bool, indexed: bool
    ) -> None:
        self.ciphertext = ciphertext
        self.plaintext = plaintext
        self.dirty = dirty
        self.indexed = indexed

    def __repr__(self) -> str:
        return "<encrypted value>"

    def __getstate__(self) -> tuple[Ciphertext | None, bool]:
        # Pickles (caches, task payloads) carry ciphertext only; a value that was never
        # encrypted cannot be pickled rather than leak.
        if self.dirty:
            raise pickle.PicklingError("an unsaved encrypted value cannot be pickled")
        return (self.ciphertext, self.indexed)

    def __setstate__(self, state: tuple[Ciphertext | None, bool]) -> None:
        self.ciphertext, self.indexed = state
        self.plaintext = "" if self.ciphertext is None else _UNKNOWN
        self.dirty = False

    def __deepcopy__(self, memo: dict[int, Any]) -> _Slot:
        return _Slot(self.ciphertext, self.plaintext, dirty=self.dirty, indexed=self.indexed)


def original_model(instance_or_model: Any) -> type[models.Model]:
    """The live model of an instance: for a simple-history row, the model it is history of."""
    cls = instance_or_model if isinstance(instance_or_model, type) else type(instance_or_model)
    return getattr(cls, "instance_type", cls)


def data_key_of(instance: models.Model) -> DataKey:
    """The data key an instance (or its historical row) is encrypted under."""
    model = original_model(instance)
    path = getattr(model, "data_key_path", None)
    if not path:
        raise CryptoError(f"{model._meta.label} does not name its data key (data_key_path)")
    target: Any = instance
    for part in path.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise CryptoError(
                f"{model._meta.label} {instance.pk} has no data key yet ({path} is empty); "
                "create records through their services, which generate it"
            )
    return target


class EncryptedAttribute:
    """Descriptor holding a ``_Slot`` in ``instance.__dict__`` under the field's attname.

    Storing under the attname keeps Django's deferred-field bookkeeping working (a missing
    entry means "deferred").
    """

    def __init__(self, field: EncryptedField) -> None:
        self.field = field

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        slot = self.field.slot(instance)
        if _RAW.get():
            return self.field.ciphertext_of(instance, slot)
        if slot.plaintext is _UNKNOWN:
            slot.plaintext = self.field.decrypt(instance, slot.ciphertext)
        return slot.plaintext

    def __set__(self, instance: Any, value: Any) -> None:
        attname = self.field.attname
        if isinstance(value, (bytes, memoryview)):
            # From the database (``from_db_value``) or a raw copy: trusted to be ciphertext.
            instance.__dict__[attname] = _Slot(
                Ciphertext(value), _UNKNOWN, dirty=False, indexed=True
            )
            return
        if value is None or value == "":
            current = instance.__dict__.get(attname)
            if current is None or current.ciphertext is not None or current.dirty:
                instance.__dict__[attname] = _Slot(None, "", dirty=False, indexed=False)
            return
        if not isinstance(value, str):
            raise TypeError(f"{self.field.label()} takes text, not {type(value).__name__}")
        if self._unchanged(instance, value):
            return  # keep the ciphertext: no needless write, and the history diff stays quiet
        instance.__dict__[attname] = _Slot(None, value, dirty=True, indexed=False)

    def _unchanged(self, instance: Any, value: str) -> bool:
        current = instance.__dict__.get(self.field.attname)
        if current is None or current.dirty:
            return False
        if current.plaintext is _UNKNOWN:
            try:  # reading the old value is fine here: it is about to be replaced anyway
                current.plaintext = self.field.decrypt(instance, current.ciphertext)
            except CryptoError:
                return False
        return bool(current.plaintext == value)


class EncryptedField(models.Field):
    """Text encrypted with AES-GCM under the instance's data key; the column is binary.

    Empty text is stored as NULL (nothing to hide, nothing to decrypt). Validation
    (``max_length``, validators, ``blank``) applies to the plaintext.
    """

    descriptor_class = EncryptedAttribute
    empty_strings_allowed = True
    form_class: type[forms.Field] = forms.CharField
    form_widget: type[forms.Widget] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["null"] = True  # the column is NULL for empty text
        super().__init__(*args, **kwargs)
        if self.max_length is not None:
            self.validators.append(validators.MaxLengthValidator(self.max_length))

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("null", None)
        return name, path, args, kwargs

    def get_internal_type(self) -> str:
        return "BinaryField"

    def label(self, instance: Any = None) -> str:
        model = original_model(instance if instance is not None else self.model)
        return f"{model._meta.label}.{self.name}"

    # --- encryption -------------------------------------------------------------------------

    def location(self, instance: Any) -> tuple[str, bytes]:
        """A readable place name and the associated data of this field on ``instance``.

        On a historical row both name the original model and the original object's primary
        key (simple-history copies it as a plain field), so history decrypts like the live row.
        """
        pk = self.pk_of(instance)
        label = original_model(instance)._meta.label
        return f"{label}.{self.name} of {pk}", self.associated_data(pk)

    @staticmethod
    def pk_of(instance: Any) -> Any:
        """The primary key the associated data names (the original object's on a history row)."""
        model = original_model(instance)
        pk = getattr(instance, model._meta.pk.attname)
        if pk is None:
            raise CryptoError(f"{model._meta.label} needs its primary key before encryption")
        return pk

    def associated_data(self, pk: Any) -> bytes:
        """``"<app_label>.<Model>|<field>|<pk>"``: binds a ciphertext to this field of the row
        whose primary key is ``pk`` (the original model's, also on a historical row)."""
        prefix = self.__dict__.get("_aad_prefix")
        if prefix is None:
            # The same for the live field and its copy on the history model; bulk writers ask
            # for it a million times.
            prefix = self._aad_prefix = f"{original_model(self.model)._meta.label}|{self.name}|"
        return f"{prefix}{pk}".encode()

    def encrypt_for(self, key: bytes | aead.Cipher, plaintext: str, pk: Any) -> Ciphertext:
        """Ciphertext of ``plaintext`` for this field of row ``pk`` under data key ``key``
        (raw, or an ``aead.Cipher`` of it that bulk writers keep for a record's fields).

        Every ciphertext of an encrypted field is made here: by ``pre_save`` for model
        instances, and by bulk writers (the import) that build rows without instances, so the
        format and the associated data cannot drift apart.
        """
        cipher = key if isinstance(key, aead.Cipher) else aead.Cipher(key)
        return Ciphertext(cipher.encrypt(plaintext.encode("utf-8"), self.associated_data(pk)))

    def slot(self, instance: Any) -> _Slot:
        slot = instance.__dict__.get(self.attname)
        if slot is None:  # deferred: load the ciphertext only, without decrypting others
            value = (
                type(instance)
                ._base_manager.db_manager(instance._state.db)
                .filter(pk=instance.pk)
                .values_list(self.attname, flat=True)
                .get()
            )
            self.descriptor_class(self).__set__(instance, value)
            slot = instance.__dict__[self.attname]
        return slot

    def plaintext_of(self, instance: Any) -> str:
        """The plaintext, raw mode or not (for blind indexes computed during raw copies)."""
        slot = self.slot(instance)
        if slot.plaintext is _UNKNOWN:
            slot.plaintext = self.decrypt(instance, slot.ciphertext)
        return slot.plaintext

    def decrypt(self, instance: Any, ciphertext: Ciphertext | None) -> str:
        if ciphertext is None:
            return ""
        what, aad = self.location(instance)
        try:
            key = data_key_of(instance).unwrap()
        except (DataKeyDestroyed, MissingMasterKey) as exc:
            # Same error type, prefixed with the place, so the message says what is unreadable.
            raise type(exc)(f"cannot decrypt {what}: {exc}") from None
        return aead.decrypt(key, ciphertext, aad, what=what).decode("utf-8")

    def ciphertext_of(self, instance: Any, slot: _Slot) -> Ciphertext | None:
        """The slot's ciphertext, encrypting a changed plaintext first."""
        if slot.dirty:
            pk = self.pk_of(instance)
            slot.ciphertext = self.encrypt_for(data_key_of(instance).unwrap(), slot.plaintext, pk)
            slot.dirty = False
        return slot.ciphertext

    # --- Django plumbing --------------------------------------------------------------------

    def pre_save(self, model_instance: Any, add: bool) -> Ciphertext | None:
        return self.ciphertext_of(model_instance, self.slot(model_instance))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Ciphertext | None:
        return None if value is None else Ciphertext(value)

    def to_python(self, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, (bytes, memoryview)):
            raise PlaintextInQuery(f"{self.label()}: expected text, got ciphertext")
        return str(value)

    def get_prep_value(self, value: Any) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, (bytes, memoryview)):
            return bytes(value)
        raise PlaintextInQuery(
            f"{self.label()} is encrypted: it cannot be searched or written by a query. "
            "Search through its blind index; write through a model instance."
        )

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        return None if value is None else connection.Database.Binary(value)

    def value_to_string(self, obj: Any) -> str:
        # Serialisation (dumpdata, backups) carries ciphertext, base64 encoded, never text.
        with raw_ciphertext():
            ciphertext = getattr(obj, self.attname)
        return "" if ciphertext is None else base64.b64encode(ciphertext).decode("ascii")

    def formfield(self, **kwargs: Any) -> forms.Field | None:
        defaults: dict[str, Any] = {"form_class": self.form_class, "max_length": self.max_length}
        if self.form_widget is not None:
            defaults["widget"] = self.form_widget
        defaults.update(kwargs)
        return super().formfield(**defaults)


class EncryptedCharField(EncryptedField):
    """A short encrypted text (name, phone, id number)."""


class EncryptedTextField(EncryptedField):
    """A long encrypted text (address, notes)."""

    form_widget = forms.Textarea


class NormalisedEmailFormField(forms.EmailField):
    """An e-mail box that reads full-width input (as Chinese input methods type it) as ASCII
    before validating it, as every other way in does (``blind_index.normalise_text``)."""

    def to_python(self, value: Any) -> str:
        return normalise_text(super().to_python(value) or "")


class EncryptedEmailField(EncryptedField):
    """An encrypted e-mail address, in NFKC form, validated as one before encryption."""

    default_validators = [validators.validate_email]
    form_class = NormalisedEmailFormField

    def to_python(self, value: Any) -> str:
        return normalise_text(super().to_python(value))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 254)
        super().__init__(*args, **kwargs)


class BlindIndexField(models.CharField):
    """Keyed HMAC of another (encrypted) field's normalised value, for exact search.

    ``source`` names the encrypted field, ``kind`` the normaliser (see ``blind_index``), and
    ``region_path`` (phones only) a dotted path to the ISO country code used for numbers
    written without one. Computed in ``clean()`` (so unique constraints validate) and, as a
    safety net, in ``pre_save`` whenever the source changed.
    """

    def __init__(
        self,
        *args: Any,
        source: str,
        kind: str,
        region_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.source = source
        self.kind = kind
        self.region_path = region_path
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        # No index of its own: lookups are per organisation, so the model declares composite
        # (organisation, index) indexes or unique constraints instead (a lone CharField index
        # on PostgreSQL also brings an unused ``_like`` twin, each costing every insert).
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.update(source=self.source, kind=self.kind)
        if self.region_path:
            kwargs["region_path"] = self.region_path
        for key, default in (("max_length", 64), ("blank", True), ("default", "")):
            if kwargs.get(key) == default:
                del kwargs[key]
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    def region(self, instance: Any) -> str | None:
        target: Any = instance
        for part in (self.region_path or "").split("."):
            if not part or target is None:
                break
            target = getattr(target, part, None)
        return target or None

    def sync(self, instance: Any) -> None:
        """Recompute from the source if it changed since the index was last computed."""
        source_field = instance._meta.get_field(self.source)
        slot = instance.__dict__.get(source_field.attname)
        if slot is None or slot.indexed:
            return
        value = source_field.plaintext_of(instance)
        setattr(instance, self.attname, blind_index(self.kind, value, region=self.region(instance)))
        slot.indexed = True

    def pre_save(self, model_instance: Any, add: bool) -> str:
        self.sync(model_instance)
        return getattr(model_instance, self.attname)


def blind_index_fields(model: Any) -> list[BlindIndexField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, BlindIndexField)]


def sync_blind_indexes(instance: Any) -> None:
    """Bring every blind index of ``instance`` in step with its changed sources."""
    for field in blind_index_fields(instance):
        field.sync(instance)


def blind_index_fields_for(instance: Any, update_fields: Iterable[str]) -> list[str]:
    """Blind-index field names to add to ``update_fields`` that name their source."""
    names = set(update_fields)
    return [
        f.name for f in blind_index_fields(instance) if f.source in names and f.name not in names
    ]


def assign(instance: Any, name: str, value: Any) -> bool:
    """Set encrypted field ``name``; True if the stored value will change (an equal value, or
    empty over empty, keeps the current ciphertext and returns False)."""
    attname = instance._meta.get_field(name).attname
    before = instance.__dict__.get(attname)
    setattr(instance, name, value)
    return instance.__dict__.get(attname) is not before


def is_changed(instance: Any, name: str) -> bool:
    """Whether encrypted field ``name`` was assigned a new value not yet indexed/saved."""
    slot = instance.__dict__.get(instance._meta.get_field(name).attname)
    return slot is not None and (slot.dirty or not slot.indexed)
