from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from transferdesk.crypto.rotation import register_resealer

        # Sign-in audit plumbing, back-off, the sessions page's "seen" mark set at sign-in.
        from . import signals, throttle, usersessions  # noqa: F401
        from .mfa_secrets import reseal_during_rotation

        # Rotations (rotate_keys, the Keys page) seal the second factors' secrets again too.
        register_resealer("accounts.mfa_secrets", reseal_during_rotation)
