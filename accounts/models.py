"""The user model: a person who signs in, belonging to one organisation, with roles as groups."""

from __future__ import annotations

from functools import cached_property

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from .choices import Role


class User(AbstractUser):
    """A TransferDesk user. Custom from the first migration so that it can grow safely.

    Roles are auth groups (see ``Role``); a user's organisation decides which side of a deal
    they can ever be on (a buyer user never sees a seller's book outside a delivered stage).
    """

    organization = models.ForeignKey(
        "customers.Organization",
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="users",
        null=True,
        blank=True,
    )
    language = models.CharField(
        _("language"),
        max_length=16,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_(
            "Used for e-mails and documents made for this user outside a page (reports, "
            "certificates, reminders). Blank: the site's default language."
        ),
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    @cached_property
    def role_names(self) -> frozenset[str]:
        return frozenset(self.groups.values_list("name", flat=True))

    def has_role(self, role: Role | str) -> bool:
        return self.is_active and str(role) in self.role_names

    @property
    def primary_role(self) -> str | None:
        """The role whose landing page the user sees first (compliance before broker)."""
        for role in (Role.COMPLIANCE, Role.BROKER, Role.BUYER):
            if role in self.role_names:
                return role.value
        return None

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username
