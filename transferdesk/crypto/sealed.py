"""Small secrets sealed under the master keys, as self-describing text.

The product's own secrets that are not customer data (second-factor secrets, webhook signing
secrets) are stored as ``<prefix>:<master key id>:<urlsafe base64>``: AES-GCM under the active
master key when sealed, the associated data naming the purpose and the key id, so the text
says which master key opens it and a value cannot be opened as another purpose's. Each user
names its prefix and purpose once (a ``SealedText``); a rotation seals again under the active
key what is under another (each user's resealer, ``transferdesk.crypto.rotation``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from . import aead
from .errors import DecryptionError
from .keyring import Keyring, get_keyring


@dataclass(frozen=True)
class SealedText:
    #: What starts a sealed value (``tdmfa1``, ``tdwh1``): never change it once values exist.
    prefix: str
    #: The purpose, in the associated data.
    purpose: str
    #: How an error names the value ("a webhook secret").
    what: str

    def _aad(self, key_id: str) -> bytes:
        return f"transferdesk/{self.purpose}/{self.prefix}/{key_id}".encode()

    def is_sealed(self, value: str) -> bool:
        return value.startswith(self.prefix + ":")

    def seal(self, text: str, keyring: Keyring | None = None) -> str:
        """``text`` sealed under the active master key."""
        keyring = keyring or get_keyring()
        blob = aead.encrypt(keyring.active_key(), text.encode(), self._aad(keyring.active_id))
        encoded = base64.urlsafe_b64encode(blob).decode("ascii")
        return f"{self.prefix}:{keyring.active_id}:{encoded}"

    def key_id(self, value: str) -> str:
        """The master key id a sealed value is under."""
        return value.split(":", 2)[1]

    def open(self, value: str, keyring: Keyring | None = None) -> str:
        """The text of a sealed value (``MissingMasterKey`` naming an absent key id,
        ``DecryptionError`` for a damaged value or the wrong key)."""
        _prefix, key_id, encoded = value.split(":", 2)
        key = (keyring or get_keyring()).key(key_id)
        try:
            blob = base64.urlsafe_b64decode(encoded.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise DecryptionError(f"cannot decrypt {self.what}: not base64") from None
        return aead.decrypt(key, blob, self._aad(key_id), what=self.what).decode()
