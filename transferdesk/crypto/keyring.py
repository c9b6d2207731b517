"""The master keyring: key id → 256-bit key, read from ``TRANSFERDESK_MASTER_KEYS``.

Format: ``"k2:<urlsafe base64 of 32 bytes>,k1:<...>"``. The first key is active: it wraps new
data keys and is the target of ``rotate_keys``. The others stay only so that data keys still
wrapped under them can be unwrapped until rotation has moved them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .errors import MissingMasterKey

SETTING = "TRANSFERDESK_MASTER_KEYS"
KEY_BYTES = 32
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True)
class Keyring:
    """Parsed master keys. ``repr`` shows the key ids only, never key material."""

    active_id: str
    keys: Mapping[str, bytes] = field(repr=False)

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self.keys)

    def active_key(self) -> bytes:
        return self.keys[self.active_id]

    def key(self, key_id: str) -> bytes:
        """The master key ``key_id``; a clear error naming it when it is not configured."""
        try:
            return self.keys[key_id]
        except KeyError:
            raise MissingMasterKey(
                f"master key {key_id!r} is not in {SETTING} "
                f"(configured: {', '.join(self.keys) or 'none'}); add it back, or restore the "
                "keyring that wrapped this data key"
            ) from None


def decode_key(encoded: str, *, what: str) -> bytes:
    """Decode one urlsafe-base64 256-bit key; ``what`` names it in the error."""
    try:
        raw = base64.urlsafe_b64decode(encoded.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ImproperlyConfigured(f"{what} is not valid urlsafe base64.") from None
    if len(raw) != KEY_BYTES:
        raise ImproperlyConfigured(
            f"{what} must decode to {KEY_BYTES} bytes (256 bits), not {len(raw)}."
        )
    return raw


@lru_cache(maxsize=8)
def parse_keyring(raw: str) -> Keyring:
    """Parse the setting's text. Cached per text, so ``override_settings`` just works."""
    entries = [item.strip() for item in (raw or "").split(",") if item.strip()]
    if not entries:
        raise ImproperlyConfigured(f"{SETTING} is empty; it needs at least one 'id:key' entry.")
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(entries, start=1):
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not encoded.strip():
            raise ImproperlyConfigured(
                f"{SETTING}: entry {position} is not of the form 'id:base64key'."
            )
        if not KEY_ID_PATTERN.match(key_id):
            raise ImproperlyConfigured(
                f"{SETTING}: entry {position} has an invalid key id {key_id!r} "
                "(letters, digits, '-' and '_', at most 32)."
            )
        if key_id in keys:
            raise ImproperlyConfigured(f"{SETTING}: key id {key_id!r} appears twice.")
        keys[key_id] = decode_key(encoded.strip(), what=f"{SETTING}: key {key_id!r}")
    return Keyring(active_id=next(iter(keys)), keys=MappingProxyType(keys))


def get_keyring() -> Keyring:
    """The keyring of the current settings."""
    return parse_keyring(getattr(settings, SETTING, "") or "")
