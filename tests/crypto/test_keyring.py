from __future__ import annotations

import base64
import os

import pytest
from django.core.exceptions import ImproperlyConfigured

from transferdesk.crypto.errors import MissingMasterKey
from transferdesk.crypto.keyring import get_keyring, parse_keyring


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def test_the_first_key_is_active_and_every_key_is_kept() -> None:
    k2, k1 = os.urandom(32), os.urandom(32)
    ring = parse_keyring(f"k2:{b64(k2)}, k1:{b64(k1)}")
    assert ring.active_id == "k2"
    assert ring.active_key() == k2
    assert ring.key("k1") == k1
    assert ring.key_ids == ("k2", "k1")


def test_keyring_repr_shows_ids_but_no_key_material() -> None:
    key = os.urandom(32)
    ring = parse_keyring(f"k1:{b64(key)}")
    assert "k1" in repr(ring)
    assert b64(key) not in repr(ring)
    assert repr(key) not in repr(ring)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "is empty"),
        ("k1", "not of the form 'id:base64key'"),
        ("k1:", "not of the form 'id:base64key'"),
        ("k 1:" + b64(bytes(32)), "invalid key id"),
        ("k1:!!!notbase64", "not valid urlsafe base64"),
        ("k1:" + b64(bytes(16)), "must decode to 32 bytes"),
        (f"k1:{b64(bytes(32))},k1:{b64(bytes(32))}", "appears twice"),
    ],
)
def test_a_malformed_keyring_is_a_configuration_error_naming_the_problem(
    raw: str, problem: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match="TRANSFERDESK_MASTER_KEYS") as excinfo:
        parse_keyring(raw)
    assert problem in str(excinfo.value)


def test_asking_for_a_missing_key_names_its_id(settings) -> None:
    settings.TRANSFERDESK_MASTER_KEYS = f"k1:{b64(os.urandom(32))}"
    with pytest.raises(MissingMasterKey) as excinfo:
        get_keyring().key("k0")
    assert "master key 'k0' is not in TRANSFERDESK_MASTER_KEYS" in str(excinfo.value)


def test_the_keyring_follows_the_settings(settings) -> None:
    settings.TRANSFERDESK_MASTER_KEYS = f"a:{b64(os.urandom(32))}"
    assert get_keyring().active_id == "a"
    settings.TRANSFERDESK_MASTER_KEYS = f"b:{b64(os.urandom(32))},a:{b64(os.urandom(32))}"
    assert get_keyring().active_id == "b"
