"""Organisations and (from the vault issue on) their customer records."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from .choices import OrganizationKind


class Organization(models.Model):
    """A party to transfers: a seller whose customer book moves, a buyer, or the broker firm.

    Organisation details are business contact data, not customer personal data, so they are
    stored in clear.
    """

    slug = models.SlugField(_("short name"), max_length=64, unique=True)
    legal_name = models.CharField(_("legal name"), max_length=255)
    kind = models.CharField(_("kind"), max_length=16, choices=OrganizationKind.choices)
    registration_number = models.CharField(_("registration number"), max_length=64, blank=True)
    country = models.CharField(_("country"), max_length=2, help_text=_("ISO 3166-1 alpha-2 code"))
    contact_name = models.CharField(_("contact name"), max_length=255, blank=True)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=32, blank=True)
    address = models.TextField(_("address"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["legal_name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self) -> str:
        return self.legal_name
