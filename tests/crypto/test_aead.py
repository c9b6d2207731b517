from __future__ import annotations

import os

import pytest

from transferdesk.crypto import aead
from transferdesk.crypto.errors import DecryptionError

KEY = os.urandom(32)
AAD = b"customers.Customer|email|0b6c"


def test_a_blob_is_version_byte_then_nonce_then_ciphertext_and_tag() -> None:
    blob = aead.encrypt(KEY, b"hello", AAD)
    assert blob[0] == aead.VERSION == 1
    assert len(blob) == 1 + 12 + len(b"hello") + 16


def test_two_encryptions_of_the_same_value_differ_by_their_random_nonce() -> None:
    first, second = aead.encrypt(KEY, b"same", AAD), aead.encrypt(KEY, b"same", AAD)
    assert first != second
    assert first[1:13] != second[1:13]
    assert aead.decrypt(KEY, first, AAD, what="x") == aead.decrypt(KEY, second, AAD, what="x")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda blob: (KEY, blob, b"customers.Customer|email|other"), id="other-aad"),
        pytest.param(lambda blob: (os.urandom(32), blob, AAD), id="other-key"),
        pytest.param(lambda blob: (KEY, blob[:-1] + bytes([blob[-1] ^ 1]), AAD), id="flipped"),
    ],
)
def test_decryption_fails_clearly_when_anything_differs(tamper) -> None:
    blob = aead.encrypt(KEY, b"secret value", AAD)
    key, changed, aad = tamper(blob)
    with pytest.raises(DecryptionError) as excinfo:
        aead.decrypt(key, changed, aad, what="customers.Customer.email of 42")
    message = str(excinfo.value)
    assert message == (
        "cannot decrypt customers.Customer.email of 42: "
        "ciphertext does not belong here or the key is wrong"
    )
    assert "secret" not in message


def test_an_unknown_version_or_a_truncated_blob_is_refused() -> None:
    blob = aead.encrypt(KEY, b"v", AAD)
    with pytest.raises(DecryptionError, match="unknown ciphertext format version 2"):
        aead.decrypt(KEY, bytes([2]) + blob[1:], AAD, what="x")
    with pytest.raises(DecryptionError, match="too short"):
        aead.decrypt(KEY, blob[:20], AAD, what="x")
