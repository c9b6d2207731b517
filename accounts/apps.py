from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        # Sign-in audit plumbing, back-off, the sessions page's "seen" mark set at sign-in.
        from . import signals, throttle, usersessions  # noqa: F401
