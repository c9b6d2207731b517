from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = _("API")

    def ready(self) -> None:
        from transferdesk.crypto.rotation import register_resealer

        from . import (
            schema,  # noqa: F401  (registers the key's OpenAPI security scheme)
            webhooks,  # connects the receivers of transfers.events
        )

        # Endpoint secrets are sealed under a master key: every rotation seals them again.
        register_resealer("api.webhooks", webhooks.reseal_secrets)
