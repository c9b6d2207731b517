"""The user model: a person who signs in, belonging to one organisation, with roles as groups."""

from __future__ import annotations

import uuid
from functools import cached_property
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from transferdesk.permissions import RestrictedQuerySet

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


class InvitationQuerySet(RestrictedQuerySet):
    pass


class Invitation(models.Model):
    """An invitation by e-mail to join as a broker, compliance officer or buyer, optionally to
    a deal in a deal role. Accepting it (once, before it expires) creates the account.

    Only the SHA-256 of the link's random token is stored, so whoever reads the database (or a
    backup) cannot open a pending invitation; the token itself is only in the e-mail.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(_("e-mail"))
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    organization = models.ForeignKey(
        "customers.Organization",
        verbose_name=_("organisation"),
        on_delete=models.CASCADE,
        related_name="invitations",
    )
    deal = models.ForeignKey(
        "transfers.TransferDeal",
        verbose_name=_("deal"),
        on_delete=models.CASCADE,
        related_name="invitations",
        null=True,
        blank=True,
    )
    deal_role = models.CharField(_("deal role"), max_length=16, choices=Role.choices, blank=True)
    language = models.CharField(
        _("language of the e-mail"), max_length=16, choices=settings.LANGUAGES, blank=True
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("invited by"),
        on_delete=models.PROTECT,
        related_name="invitations_sent",
    )
    token_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    accepted_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(deal__isnull=True, deal_role="")
                | models.Q(deal__isnull=False, deal_role__gt=""),
                name="invitation_deal_role_with_deal",
                violation_error_message=_("A deal invitation needs a deal role, and only it."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()} · {self.organization}"

    @property
    def is_pending(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> models.Q:
        """Invitations a user may see and revoke: their own; a deal's, for that deal's brokers;
        staff invitations (no deal), for compliance officers and administrators."""
        q = models.Q(invited_by=user) | models.Q(
            deal__assignments__user=user, deal__assignments__role=Role.BROKER.value
        )
        if user.is_superuser or user.has_role(Role.COMPLIANCE):
            q |= models.Q(deal__isnull=True)
        return q


class KnownDevice(models.Model):
    """A browser a user signed in from (issue 15: an e-mail on a sign-in from a new one).

    The browser carries a long-lived signed cookie with a random id (accounts/devices.py); only
    the id's SHA-256 is stored, so a database reader cannot make a browser look known. What the
    e-mail and the person need is kept beside it: a summary of the browser and system (not the
    whole user-agent string), the address, and when it was first and last used.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="known_devices",
    )
    device_sha256 = models.CharField(max_length=64, editable=False)
    user_agent = models.CharField(_("browser"), max_length=100, blank=True)
    address = models.GenericIPAddressField(_("address"), null=True, blank=True)
    first_seen = models.DateTimeField(_("first seen"), default=timezone.now)
    last_seen = models.DateTimeField(_("last seen"), default=timezone.now)

    class Meta:
        verbose_name = _("known device")
        verbose_name_plural = _("known devices")
        constraints = [
            models.UniqueConstraint(fields=["user", "device_sha256"], name="known_device_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.user_agent}"
