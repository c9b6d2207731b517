from __future__ import annotations

from django.db import models
from django.test.utils import isolate_apps

from transferdesk.crypto.checks import check_encrypted_models, check_model
from transferdesk.crypto.fields import EncryptedCharField


def test_the_projects_encrypted_models_pass_the_checks():
    assert check_encrypted_models() == []


@isolate_apps("customers")
def test_a_plain_model_with_an_integer_key_and_an_indexed_encrypted_field_is_refused():
    class Leaky(models.Model):
        secret = EncryptedCharField(max_length=10, db_index=True)

        class Meta:
            app_label = "customers"

        def __str__(self) -> str:
            return "leaky"

    assert sorted(e.id for e in check_model(Leaky)) == [
        "transferdesk.E101",
        "transferdesk.E102",
        "transferdesk.E103",
    ]


def test_a_malformed_keyring_or_blind_index_key_fails_the_start_up_checks(settings):
    from transferdesk.crypto.checks import check_crypto_settings

    assert check_crypto_settings() == []
    settings.TRANSFERDESK_MASTER_KEYS = "k1:tooshort"
    settings.TRANSFERDESK_BLIND_INDEX_KEY = ""
    errors = check_crypto_settings()
    assert [e.id for e in errors] == ["transferdesk.E110", "transferdesk.E111"]
    assert "TRANSFERDESK_MASTER_KEYS: key 'k1'" in errors[0].msg
