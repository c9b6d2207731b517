"""Second-factor secrets sealed under the master keys (issue 15, ASVS 6.5.2/6.5.3).

allauth keeps each person's TOTP secret (``data["secret"]``) and the seed their recovery codes
are derived from (``data["seed"]``, and ``data["migrated_codes"]`` when codes were imported) in
``Authenticator.data``, passing each through its MFA adapter's ``encrypt``/``decrypt``, which
are the identity by default: a copy of the database would hold everyone's usable second factor.
WebAuthn stores only a public key and passes nothing through them.

``MFAAdapter`` seals these values with AES-GCM under the *active* master key
(``transferdesk.crypto``) as ``tdmfa1:<key id>:<urlsafe base64>``, the associated data naming
the purpose and the key id, so the text says which master key opens it. A value without the
prefix was written before sealing and is passed through as it is, so existing enrolments keep
working until ``seal_factor_secrets`` seals them: the migration ``0006_seal_factor_secrets`` at
deployment, and every rotation (``rotate_keys``, the *Keys* page), which also seals again the
values under an older master key, so that an old key left with "0" can really go.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from allauth.mfa.adapter import DefaultMFAAdapter
from django.db import transaction

from transferdesk.crypto.keyring import Keyring, get_keyring
from transferdesk.crypto.sealed import SealedText

PREFIX = "tdmfa1"
#: The types whose ``data`` holds sealed values (WebAuthn holds a public key only).
SEALED_TYPES = ("totp", "recovery_codes")
#: Counted as the "key id" of a value written before sealing.
CLEAR = ""


SEALED = SealedText(prefix=PREFIX, purpose="mfa-secret", what="a second-factor secret")


def seal(text: str, keyring: Keyring | None = None) -> str:
    """``text`` sealed under the active master key, as ``tdmfa1:<key id>:<base64>``."""
    return SEALED.seal(text, keyring)


def key_id_of(value: str) -> str:
    """The master key id a stored value is sealed under; ``CLEAR`` for a clear value."""
    return SEALED.key_id(value) if SEALED.is_sealed(value) else CLEAR


def unseal(value: str, keyring: Keyring | None = None) -> str:
    """The text of a ``seal``ed value; a value without the prefix is returned as it is."""
    if not SEALED.is_sealed(value):
        return value  # written before sealing: clear until sealed (see the module's text)
    return SEALED.open(value, keyring)


class MFAAdapter(DefaultMFAAdapter):
    """allauth's MFA adapter, sealing what allauth stores through ``encrypt``."""

    def encrypt(self, text: str) -> str:
        return seal(text)

    def decrypt(self, encrypted_text: str) -> str:
        return unseal(encrypted_text)


def _values(data: dict[str, Any]) -> list[str]:
    """The sealed (or clear) values in one authenticator's ``data``."""
    values = [data[name] for name in ("secret", "seed") if isinstance(data.get(name), str)]
    codes = data.get("migrated_codes")
    if isinstance(codes, list):
        values += [code for code in codes if isinstance(code, str)]
    return values


def _resealed(data: dict[str, Any], keyring: Keyring) -> tuple[dict[str, Any], int]:
    """``data`` with every value sealed under the active key, and how many values changed."""
    changed = 0

    def again(value: Any) -> Any:
        nonlocal changed
        if not isinstance(value, str) or key_id_of(value) == keyring.active_id:
            return value
        changed += 1
        return seal(unseal(value, keyring), keyring)

    data = dict(data)
    for name in ("secret", "seed"):
        if name in data:
            data[name] = again(data[name])
    if isinstance(data.get("migrated_codes"), list):
        data["migrated_codes"] = [again(code) for code in data["migrated_codes"]]
    return data, changed


def _authenticator_model() -> Any:
    from allauth.mfa.models import Authenticator

    return Authenticator


def count_by_master_key(model: Any = None) -> dict[str, int]:
    """How many second-factor secrets each master key id seals (``CLEAR``: not sealed yet)."""
    model = model or _authenticator_model()
    counts: Counter[str] = Counter()
    for data in model.objects.filter(type__in=SEALED_TYPES).values_list("data", flat=True):
        counts.update(key_id_of(value) for value in _values(data or {}))
    return dict(counts)


def seal_factor_secrets(
    keyring: Keyring | None = None,
    *,
    batch_size: int = 500,
    limit: int | None = None,
    model: Any = None,
) -> tuple[int, int]:
    """Seal under the active master key every second-factor secret that is clear or under an
    older key (those of at most ``limit`` authenticators), in batches each committed on its own.

    Returns (secrets sealed again, secrets still not under the active key). Idempotent: a
    second run finds nothing. Each row is read again under a row lock, so a recovery code used
    meanwhile (allauth locks the row too) is not lost. ``model``: the migration's own.
    """
    keyring = keyring or get_keyring()
    model = model or _authenticator_model()
    rows = model.objects.filter(type__in=SEALED_TYPES)
    pending = [
        pk
        for pk, data in rows.values_list("pk", "data").order_by("pk")
        if any(key_id_of(value) != keyring.active_id for value in _values(data or {}))
    ]
    if limit is not None:
        pending = pending[:limit]
    done = 0
    for start in range(0, len(pending), batch_size):
        with transaction.atomic():
            for authenticator in rows.select_for_update().filter(
                pk__in=pending[start : start + batch_size]
            ):
                data, changed = _resealed(authenticator.data or {}, keyring)
                if changed:
                    authenticator.data = data
                    authenticator.save(update_fields=["data"])
                    done += changed
    left = sum(
        count for key_id, count in count_by_master_key(model).items() if key_id != keyring.active_id
    )
    return done, left


def reseal_during_rotation(
    keyring: Keyring, *, batch_size: int, limit: int | None
) -> tuple[int, int]:
    """The resealer ``transferdesk.crypto.rotation`` runs after re-wrapping the data keys."""
    return seal_factor_secrets(keyring, batch_size=batch_size, limit=limit)
