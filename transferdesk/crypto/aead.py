"""AES-256-GCM with a version byte: ``version || nonce (12 bytes) || ciphertext+tag``.

The version byte lets a later format (another algorithm, a key-committing scheme) coexist with
this one; the random 96-bit nonce is the size GCM is specified for. Associated data binds a
ciphertext to its place (see ``fields``), so it never decrypts anywhere else.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import DecryptionError

VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER_BYTES = 1 + NONCE_BYTES


class Cipher:
    """One key, its AES-GCM state built once: ``encrypt``/``decrypt`` as the module functions.

    Building the AES-GCM state costs more than sealing a short value, so bulk work that uses
    one key many times (the handover engine: a customer's fields, a deal's snapshots) keeps
    one of these per key. Same format, same checks, same errors as the functions below.
    """

    __slots__ = ("_aesgcm",)

    def __init__(self, key: bytes) -> None:
        self._aesgcm = AESGCM(key)

    def __repr__(self) -> str:
        return "<aead.Cipher>"  # never the key

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return bytes([VERSION]) + nonce + self._aesgcm.encrypt(nonce, plaintext, aad)

    def decrypt(self, blob: bytes | memoryview, aad: bytes, *, what: str) -> bytes:
        blob = bytes(blob)
        if len(blob) < HEADER_BYTES + TAG_BYTES:
            raise DecryptionError(f"cannot decrypt {what}: the stored value is too short")
        if blob[0] != VERSION:
            raise DecryptionError(
                f"cannot decrypt {what}: unknown ciphertext format version {blob[0]}"
            )
        try:
            return self._aesgcm.decrypt(blob[1:HEADER_BYTES], blob[HEADER_BYTES:], aad)
        except InvalidTag:
            raise DecryptionError(
                f"cannot decrypt {what}: ciphertext does not belong here or the key is wrong"
            ) from None


def encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt under ``key`` with a fresh random nonce; returns the versioned blob."""
    return Cipher(key).encrypt(plaintext, aad)


def decrypt(key: bytes, blob: bytes, aad: bytes, *, what: str) -> bytes:
    """Decrypt a blob made by ``encrypt``; ``what`` names the place for the error message.

    Any failure (unknown version, truncated blob, wrong key, wrong associated data, altered
    bytes) raises ``DecryptionError``: the caller never gets ciphertext back as if it were data.
    """
    return Cipher(key).decrypt(blob, aad, what=what)
