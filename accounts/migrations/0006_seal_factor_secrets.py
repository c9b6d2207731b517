"""Seal the second-factor secrets stored in clear before ``accounts.mfa_secrets`` existed.

Idempotent (a sealed value is left alone) and safe to run again; rotations seal too. Going back
leaves them sealed: the adapter reads both forms.
"""

from typing import Any

from django.db import migrations


def seal_clear_secrets(apps: Any, schema_editor: Any) -> None:
    from accounts.mfa_secrets import SEALED_TYPES, seal_factor_secrets

    model = apps.get_model("mfa", "Authenticator")
    if model.objects.filter(type__in=SEALED_TYPES).exists():  # a new database needs no keyring
        seal_factor_secrets(model=model)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_known_device"),
        ("mfa", "0003_authenticator_type_uniq"),
    ]

    operations = [migrations.RunPython(seal_clear_secrets, migrations.RunPython.noop)]
