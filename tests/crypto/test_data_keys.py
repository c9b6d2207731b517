from __future__ import annotations

import base64
import os
import pickle

import pytest

from transferdesk.crypto.errors import DataKeyDestroyed, DecryptionError, MissingMasterKey
from transferdesk.models import DataKey, DataKeyPurpose

pytestmark = pytest.mark.django_db


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.fixture
def keyring(settings) -> str:
    settings.TRANSFERDESK_MASTER_KEYS = f"k1:{b64(os.urandom(32))}"
    return settings.TRANSFERDESK_MASTER_KEYS


def test_a_new_data_key_is_random_and_wrapped_under_the_active_master_key(keyring) -> None:
    first = DataKey.generate(purpose=DataKeyPurpose.CUSTOMER)
    second = DataKey.generate(purpose=DataKeyPurpose.DEAL)
    assert first.master_key_id == "k1"
    fresh = DataKey.objects.get(pk=first.pk)
    assert len(fresh.unwrap()) == 32
    assert fresh.unwrap() == first.unwrap()
    assert fresh.unwrap() != DataKey.objects.get(pk=second.pk).unwrap()
    assert fresh.unwrap() not in bytes(fresh.wrapped_key)


def test_a_wrapped_key_moved_to_another_row_does_not_unwrap(keyring) -> None:
    first = DataKey.generate(purpose=DataKeyPurpose.CUSTOMER)
    second = DataKey.generate(purpose=DataKeyPurpose.CUSTOMER)
    DataKey.objects.filter(pk=second.pk).update(wrapped_key=first.wrapped_key)
    with pytest.raises(DecryptionError, match=f"data key {second.pk}"):
        DataKey.objects.get(pk=second.pk).unwrap()


def test_destroying_a_data_key_leaves_a_tombstone_that_cannot_unwrap(keyring) -> None:
    key = DataKey.generate(purpose=DataKeyPurpose.CUSTOMER)
    key.destroy()
    tombstone = DataKey.objects.get(pk=key.pk)
    assert tombstone.wrapped_key is None
    assert tombstone.destroyed_at is not None
    assert tombstone.purpose == DataKeyPurpose.CUSTOMER
    with pytest.raises(DataKeyDestroyed, match="was destroyed"):
        tombstone.unwrap()
    with pytest.raises(DataKeyDestroyed):
        key.unwrap()  # the instance that destroyed it forgot the key too


def test_unwrapping_under_a_master_key_no_longer_configured_names_the_key_id(settings) -> None:
    settings.TRANSFERDESK_MASTER_KEYS = f"k0:{b64(os.urandom(32))}"
    key = DataKey.generate(purpose=DataKeyPurpose.CUSTOMER)
    settings.TRANSFERDESK_MASTER_KEYS = f"k1:{b64(os.urandom(32))}"
    with pytest.raises(
        MissingMasterKey, match="master key 'k0' is not in TRANSFERDESK_MASTER_KEYS"
    ):
        DataKey.objects.get(pk=key.pk).unwrap()


def test_a_pickled_data_key_does_not_carry_the_unwrapped_key(keyring) -> None:
    key = DataKey.generate(purpose=DataKeyPurpose.CUSTOMER)
    raw = key.unwrap()
    assert raw not in pickle.dumps(key)
    assert pickle.loads(pickle.dumps(key)).unwrap() == raw  # noqa: S301 - our own bytes


def test_destroying_through_the_service_records_one_audit_event(keyring) -> None:
    from transferdesk.crypto.services import data_key_destroy
    from transferdesk.trail import AuditEvent

    key = DataKey.generate(purpose=DataKeyPurpose.CUSTOMER)
    key.unwrap()
    data_key_destroy(data_key=key, actor=None, reason="erasure_request")
    with pytest.raises(DataKeyDestroyed):
        key.unwrap()  # the caller's instance forgot the key too
    [event] = AuditEvent.objects.filter(action="key_destroyed", object_id=str(key.pk))
    assert event.details == {"purpose": "customer", "reason": "erasure_request"}
    with pytest.raises(ValueError, match="already destroyed"):
        data_key_destroy(data_key=key, actor=None, reason="again")


@pytest.mark.django_db
def test_a_free_text_destruction_reason_is_refused_so_no_personal_data_reaches_the_trail():
    from transferdesk.crypto.services import data_key_destroy

    key = DataKey.generate(purpose=DataKeyPurpose.CUSTOMER)
    key.save()
    with pytest.raises(ValueError, match="short code"):
        data_key_destroy(data_key=key, actor=None, reason="Jane Doe asked by phone")
    key.refresh_from_db()
    assert not key.is_destroyed
