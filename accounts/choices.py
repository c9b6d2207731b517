from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """Roles are auth groups of these names, created by a data migration."""

    BROKER = "broker", _("Broker")
    COMPLIANCE = "compliance", _("Compliance officer")
    BUYER = "buyer", _("Buyer")
