"""System checks: a model with encrypted fields must be able to encrypt them safely.

They catch, at ``manage.py check`` time, the mistakes that would otherwise surface as a leak
or as unreadable data later: associated data needs a primary key known before insert, the
instance must name its data key, and an encrypted column can be neither unique nor indexed
(its ciphertext is random; search goes through a blind index).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core import checks
from django.db import models

from .fields import EncryptedField, original_model


@checks.register(checks.Tags.models)
def check_encrypted_models(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for model in apps.get_models():
        errors += check_model(model)
    return errors


def check_model(model: type[models.Model]) -> list[checks.CheckMessage]:
    """The errors of one model (none if it has no encrypted field)."""
    from .models import EncryptedModel

    errors: list[checks.CheckMessage] = []
    encrypted = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedField)]
    if not encrypted or original_model(model) is not model:
        return errors  # nothing to check, or a simple-history model (checked as its original)
    if not issubclass(model, EncryptedModel):
        errors.append(
            checks.Error(
                f"{model._meta.label} has encrypted fields but is not an EncryptedModel.",
                hint="Subclass transferdesk.crypto.models.EncryptedModel and set data_key_path.",
                obj=model,
                id="transferdesk.E101",
            )
        )
    pk = model._meta.pk
    if not (isinstance(pk, models.UUIDField) and pk.has_default()):
        errors.append(
            checks.Error(
                f"{model._meta.label} needs a UUID primary key with a default: encryption "
                "binds each value to the primary key before the row is inserted.",
                obj=model,
                id="transferdesk.E102",
            )
        )
    for field in encrypted:
        if field.unique or getattr(field, "db_index", False):
            errors.append(
                checks.Error(
                    f"{model._meta.label}.{field.name} is encrypted and cannot be unique "
                    "or indexed (ciphertext is random).",
                    hint="Add a BlindIndexField for exact search and uniqueness.",
                    obj=field,
                    id="transferdesk.E103",
                )
            )
    return errors


@checks.register(checks.Tags.security)
def check_crypto_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Parse the keyring and the blind-index key at start-up, not at the first record read."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    from .blind_index import SETTING as BLIND_INDEX_SETTING
    from .keyring import decode_key, get_keyring

    errors: list[checks.CheckMessage] = []
    try:
        get_keyring()
    except ImproperlyConfigured as exc:
        errors.append(checks.Error(str(exc), id="transferdesk.E110"))
    try:
        decode_key(
            (getattr(settings, BLIND_INDEX_SETTING, "") or "").strip(), what=BLIND_INDEX_SETTING
        )
    except ImproperlyConfigured as exc:
        errors.append(checks.Error(str(exc), id="transferdesk.E111"))
    return errors
