"""The keyring page (issue 15): superusers see the keyring's state and re-wrap data keys under
the active master key, behind a second factor given within ten minutes."""

from __future__ import annotations

import base64
import os

import pytest
from django.urls import reverse

from accounts import keys
from tests.support.mfa import age_second_factor, enrol_totp, totp_code
from transferdesk.crypto.models import DataKey, DataKeyPurpose
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

PAGE = "/accounts/keys/"
ROTATE = "/accounts/keys/rotate/"


def _key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@pytest.fixture
def old_keys(settings) -> list[DataKey]:
    """Three data keys under k1, one destroyed; then k2 becomes the active key."""
    old = f"k1:{_key()}"
    settings.TRANSFERDESK_MASTER_KEYS = old
    made = [DataKey.generate(purpose=DataKeyPurpose.CUSTOMER) for _ in range(4)]
    made[3].destroy()
    settings.TRANSFERDESK_MASTER_KEYS = f"k2:{_key()},{old}"
    return made


@pytest.mark.parametrize("actor", ["broker", "compliance", "buyer"])
def test_only_superusers_reach_the_page(client, cast, actor):
    client.force_login(getattr(cast, actor))
    assert client.get(PAGE).status_code == 403
    assert client.post(ROTATE).status_code == 403
    assert "/accounts/keys/" not in client.get("/", follow=True).text


def test_the_page_shows_the_keyring_state(client, cast, old_keys):
    client.force_login(cast.admin)
    page = client.get(PAGE)
    assert page.status_code == 200
    text = page.text
    assert '<code class="td-active-key">k2</code>' in text
    assert '<div class="td-stat-value td-pending text-warning">3</div>' in text
    assert '<div class="td-stat-value td-destroyed">1</div>' in text
    assert "older: re-wrap" in text
    for key in old_keys[:3]:
        assert str(key.pk) not in text  # counts and ids of master keys, nothing else


def test_re_wrapping_with_a_fresh_factor_moves_every_key_and_records_the_actor(
    client, cast, old_keys
):
    client.force_login(cast.admin)
    response = client.post(ROTATE, follow=True)
    assert response.redirect_chain[-1][0] == PAGE
    assert "3 data key(s) re-wrapped under k2" in response.text
    assert set(DataKey.objects.live().values_list("master_key_id", flat=True)) == {"k2"}
    event = AuditEvent.objects.get(action=AuditAction.KEY_ROTATED)
    assert event.actor_id == cast.admin.pk
    assert event.details["rewrapped"] == 3
    again = client.post(ROTATE, follow=True)
    assert "Nothing to do" in again.text


def test_a_press_is_bounded_and_says_what_is_left(client, cast, old_keys, monkeypatch):
    monkeypatch.setattr(keys, "ROTATE_LIMIT", 2)
    client.force_login(cast.admin)
    response = client.post(ROTATE, follow=True)
    assert "2 data key(s) re-wrapped under k2; 1 left" in response.text
    assert DataKey.objects.needing_rotation("k2").count() == 1


def test_an_old_factor_is_asked_again_then_the_re_wrap_goes_on(client, cast, old_keys):
    enrol_totp(cast.admin)
    client.force_login(cast.admin)
    session = client.session
    age_second_factor(session, 11 * 60)
    session.save()
    asked = client.post(ROTATE)
    assert asked.status_code == 302
    assert asked["Location"].startswith(reverse("mfa_reauthenticate"))
    assert DataKey.objects.needing_rotation("k2").count() == 3  # nothing done yet
    done = client.post(asked["Location"], {"code": totp_code(cast.admin)}, follow=True)
    assert done.redirect_chain[-1][0] == PAGE
    assert "3 data key(s) re-wrapped under k2" in done.text
    assert not DataKey.objects.needing_rotation("k2").exists()


def test_a_data_key_under_a_master_key_the_keyring_lacks_gives_a_message(
    client, cast, old_keys, settings
):
    settings.TRANSFERDESK_MASTER_KEYS = f"k3:{_key()}"  # k1 gone before the re-wrap
    client.force_login(cast.admin)
    page = client.get(PAGE)
    assert "not in the keyring" in page.text
    response = client.post(ROTATE, follow=True)
    assert response.status_code == 200
    assert "Re-wrapping stopped" in response.text
    assert not AuditEvent.objects.filter(action=AuditAction.KEY_ROTATED).exists()
