"""The tier registry: every customer-data field declares its sensitivity tier here, once.

The handover (which fields a stage may carry), the buyer portal, the data-subject page and the
reports all ask ``fields_of(model, tier)`` instead of keeping their own lists, so a new field
is classified in one place or not at all (a test checks that every field of a registered model
is classified or explicitly bookkeeping).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ImproperlyConfigured
from django.db import models

from transferdesk.crypto.fields import EncryptedField

from .choices import Tier

_TIERS: dict[str, dict[str, Tier]] = {}
_BOOKKEEPING: dict[str, frozenset[str]] = {}


def register(
    model: type[models.Model],
    *,
    general: Iterable[str] = (),
    sensitive: Iterable[str] = (),
    core: Iterable[str] = (),
    bookkeeping: Iterable[str] = (),
) -> type[models.Model]:
    """Declare the tier of each field of ``model``.

    ``bookkeeping`` lists fields that are not customer data (keys, links, blind indexes,
    timestamps) and so are never handed over as such. Sensitive and core fields must be
    encrypted, and encrypted fields must be sensitive or core: a mismatch is a configuration
    error at import time, not a leak found later.
    """
    label = model._meta.label
    tiers: dict[str, Tier] = {}
    for tier, names in ((Tier.GENERAL, general), (Tier.SENSITIVE, sensitive), (Tier.CORE, core)):
        for name in names:
            field = model._meta.get_field(name)
            if name in tiers:
                raise ImproperlyConfigured(f"{label}.{name} is declared in two tiers")
            encrypted = isinstance(field, EncryptedField)
            if encrypted != (tier != Tier.GENERAL):
                raise ImproperlyConfigured(
                    f"{label}.{name}: {tier.label} fields must "
                    + ("not " if tier == Tier.GENERAL else "")
                    + "be encrypted"
                )
            tiers[name] = tier
    _TIERS[label] = tiers
    _BOOKKEEPING[label] = frozenset(bookkeeping)
    return model


def fields_of(model: type[models.Model], tier: Tier | str) -> list[str]:
    """Names of ``model``'s fields of ``tier``, in declaration order."""
    tiers = _TIERS[model._meta.label]
    return [name for name, t in tiers.items() if t == tier]


def tier_of(model: type[models.Model], name: str) -> Tier | None:
    """The tier of one field, or None for bookkeeping fields."""
    return _TIERS[model._meta.label].get(name)


def registered_models() -> list[str]:
    return list(_TIERS)


def bookkeeping_fields(model: type[models.Model]) -> frozenset[str]:
    return _BOOKKEEPING[model._meta.label]
