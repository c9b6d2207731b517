"""Second-factor secrets sealed under the master keys (issue 15, ASVS 6.5.2/6.5.3): a copy of the
database holds no usable TOTP secret or recovery-code seed, sign-in still works, secrets from
before sealing keep working until sealed, and a rotation takes them along so the old master key
can really leave the keyring."""

from __future__ import annotations

import base64
import importlib
import os
from io import StringIO

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.apps import apps
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from accounts.mfa_secrets import count_by_master_key, seal, seal_factor_secrets, unseal
from tests.factories import PASSWORD
from tests.support.mfa import CODE_STEP, LOGIN, enrol_totp
from transferdesk.crypto.errors import DecryptionError, MissingMasterKey
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db


def _key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@pytest.fixture
def k1(settings) -> str:
    entry = f"k1:{_key()}"
    settings.TRANSFERDESK_MASTER_KEYS = entry
    return entry


def stored(authenticator: Authenticator) -> str:
    """The row's ``data`` column exactly as the database holds it (what a copy would hold)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM mfa_authenticator WHERE id = %s", [authenticator.pk])
        (raw,) = cursor.fetchone()
    return raw if isinstance(raw, str) else str(raw)


def clear_totp(user, secret: str) -> Authenticator:
    """A TOTP factor as written before sealing existed: the secret in clear."""
    return Authenticator.objects.create(
        user=user, type=Authenticator.Type.TOTP, data={"secret": secret}
    )


def signs_in(client, username: str, code: str) -> bool:
    client.logout()
    response = client.post(LOGIN, {"login": username, "password": PASSWORD})
    assert response["Location"].startswith(CODE_STEP)
    client.post(CODE_STEP, {"code": code})
    return "_auth_user_id" in client.session


def app_code(authenticator: Authenticator, secret: str) -> str:
    """The authenticator app's current code (from the secret the person scanned), usable again
    in this test (allauth refuses a code used within its period)."""
    code = pyotp.TOTP(secret).now()
    cache.delete(TOTP(authenticator)._get_used_cache_key(code))
    return code


def test_a_totp_enrolment_stores_no_clear_secret_and_its_codes_sign_in(client, cast, k1):
    secret = generate_totp_secret()
    authenticator = TOTP.activate(cast.broker, secret).instance  # allauth's enrolment
    raw = stored(authenticator)
    assert secret not in raw
    assert Authenticator.objects.get(pk=authenticator.pk).data["secret"].startswith("tdmfa1:k1:")
    assert count_by_master_key() == {"k1": 1}
    assert signs_in(client, "broker", app_code(authenticator, secret))
    assert not signs_in(client, "broker", "000000")


def test_the_enrolment_page_seals_the_scanned_secret(
    client, cast, k1, django_capture_on_commit_callbacks
):
    from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY

    client.post(LOGIN, {"login": "broker", "password": PASSWORD})
    client.get(reverse("mfa_activate_totp"))
    secret = client.session[SECRET_SESSION_KEY]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("mfa_activate_totp"), {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    authenticator = Authenticator.objects.get(user=cast.broker, type=Authenticator.Type.TOTP)
    assert secret not in stored(authenticator)
    assert signs_in(client, "broker", app_code(authenticator, secret))


def test_recovery_codes_store_no_clear_seed_and_still_work_once(client, cast, k1):
    enrol_totp(cast.broker)
    codes_authenticator = RecoveryCodes.activate(cast.broker).instance
    seed = unseal(codes_authenticator.data["seed"])
    codes = RecoveryCodes(codes_authenticator).generate_codes()
    raw = stored(codes_authenticator)
    assert seed not in raw and len(seed) == 80
    assert not any(code in raw for code in codes)
    assert signs_in(client, "broker", codes[0])
    assert not signs_in(client, "broker", codes[0])  # once only
    assert signs_in(client, "broker", codes[1])


def test_a_factor_stored_in_clear_before_sealing_still_signs_in_and_rotation_seals_it(
    client, cast, k1, settings
):
    secret = generate_totp_secret()
    legacy = clear_totp(cast.buyer, secret)
    assert secret in stored(legacy)
    assert count_by_master_key() == {"": 1}
    assert signs_in(client, "buyer", app_code(legacy, secret))

    out = StringIO()
    call_command("rotate_keys", stdout=out)  # the same key: only the clear one has to move
    assert "1 second-factor secret(s) sealed again under 'k1', 0 left." in out.getvalue()
    assert secret not in stored(legacy)
    assert count_by_master_key() == {"k1": 1}
    assert signs_in(client, "buyer", app_code(legacy, secret))


def test_sealing_is_idempotent_and_the_migration_seals_clear_rows(cast, k1):
    secret = generate_totp_secret()
    legacy = clear_totp(cast.buyer, secret)
    seeded = Authenticator.objects.create(
        user=cast.buyer,
        type=Authenticator.Type.RECOVERY_CODES,
        data={"seed": "ab" * 40, "used_mask": 0},
    )
    migration = importlib.import_module("accounts.migrations.0006_seal_factor_secrets")
    migration.seal_clear_secrets(apps, None)
    assert secret not in stored(legacy) and "ab" * 40 not in stored(seeded)
    assert count_by_master_key() == {"k1": 2}
    assert seal_factor_secrets() == (0, 0)  # a second run finds nothing
    assert unseal(Authenticator.objects.get(pk=seeded.pk).data["seed"]) == "ab" * 40


def test_after_rotating_to_a_new_key_the_old_one_can_go_and_sign_in_still_works(
    client, cast, k1, settings
):
    secret = generate_totp_secret()
    totp = TOTP.activate(cast.broker, secret).instance
    codes = RecoveryCodes.activate(cast.broker)
    recovery = codes.generate_codes()
    legacy_secret = generate_totp_secret()
    legacy = clear_totp(cast.buyer, legacy_secret)

    settings.TRANSFERDESK_MASTER_KEYS = f"k2:{_key()},{k1}"
    assert count_by_master_key() == {"k1": 2, "": 1}
    out = StringIO()
    call_command("rotate_keys", "--batch-size", "1", stdout=out)
    assert "3 second-factor secret(s) sealed again under 'k2', 0 left." in out.getvalue()
    assert count_by_master_key() == {"k2": 3}
    event = AuditEvent.objects.get(action=AuditAction.KEY_ROTATED)
    assert event.details["resealed"] == 3

    settings.TRANSFERDESK_MASTER_KEYS = settings.TRANSFERDESK_MASTER_KEYS.split(",")[0]  # k1 gone
    assert signs_in(client, "broker", app_code(totp, secret))
    assert signs_in(client, "broker", recovery[0])
    assert signs_in(client, "buyer", app_code(legacy, legacy_secret))


def test_removing_the_old_key_before_rotating_names_the_missing_key(cast, k1, settings):
    sealed = seal("JBSWY3DPEHPK3PXP")
    settings.TRANSFERDESK_MASTER_KEYS = f"k2:{_key()}"
    with pytest.raises(MissingMasterKey, match="master key 'k1' is not in"):
        unseal(sealed)


def test_a_sealed_secret_altered_or_under_the_wrong_key_is_refused(settings, k1):
    sealed = seal("JBSWY3DPEHPK3PXP")
    prefix, key_id, body = sealed.split(":")
    tampered = f"{prefix}:{key_id}:{body[:-4]}AAAA"
    with pytest.raises(DecryptionError):
        unseal(tampered)
    settings.TRANSFERDESK_MASTER_KEYS = f"k1:{_key()}"  # the right id, another key
    with pytest.raises(DecryptionError):
        unseal(sealed)


def test_the_keys_page_counts_the_secrets_per_master_key_and_re_wrapping_seals_them(
    client, cast, k1, settings
):
    TOTP.activate(cast.broker, generate_totp_secret())
    RecoveryCodes.activate(cast.broker)
    clear_totp(cast.buyer, generate_totp_secret())
    settings.TRANSFERDESK_MASTER_KEYS = f"k2:{_key()},{k1}"
    client.force_login(cast.admin)

    text = client.get("/accounts/keys/").text
    assert '<div class="td-stat-value td-secrets-pending text-warning">3</div>' in text
    assert '<tr class="table-warning" data-key-id="k1">' in text
    assert '<td class="td-secrets">2</td>' in text  # under k1
    assert "none (stored in clear)" in text and '<td class="td-secrets">1</td>' in text

    response = client.post("/accounts/keys/rotate/", follow=True)
    assert "3 second-factor secret(s) sealed again under k2." in response.text
    assert "the old keys can leave the keyring" in response.text
    text = client.get("/accounts/keys/").text
    assert '<div class="td-stat-value td-secrets-pending">0</div>' in text
    assert 'data-key-id="k1"' not in text and "none (stored in clear)" not in text
    assert '<tr data-key-id="k2">' in text and '<td class="td-secrets">3</td>' in text
    again = client.post("/accounts/keys/rotate/", follow=True)
    assert "Nothing to do" in again.text
