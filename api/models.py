"""API keys: machine credentials of one organisation, within scopes, stored only as hashes.

djangorestframework-api-key makes the key (an 8-character public prefix, a dot, a 32-character
secret) and stores its SHA-512 only (``hashed_key``; the primary key is prefix and hash): the
key itself is shown once, on the page that created it, and nowhere else. Keys are never
deleted: a revoked key stays listed, so the trail's events that name its prefix keep a row to
point at.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager

from transferdesk.principals import MachinePrincipal


class OrganizationAPIKeyManager(BaseAPIKeyManager):
    def get_usable_keys(self) -> models.QuerySet:
        # The library's lookup (``get_from_key``) starts here: unrevoked keys, with the
        # organisation every call names.
        return super().get_usable_keys().select_related("organization")


class OrganizationAPIKey(AbstractAPIKey):
    """A key with which an organisation's system (the seller's or the buyer's CRM) calls the
    API. It acts for ``organization`` within ``scopes`` (``transferdesk.principals.ApiScope``)
    and never for a person."""

    organization = models.ForeignKey(
        "customers.Organization",
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="api_keys",
    )
    scopes = models.JSONField(_("scopes"), default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    objects = OrganizationAPIKeyManager()  # type: ignore[misc,assignment]

    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("revoked by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("API key")  # type: ignore[assignment]
        verbose_name_plural = _("API keys")  # type: ignore[assignment]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(revoked=False, revoked_at__isnull=True)
                | models.Q(revoked=True, revoked_at__isnull=False),
                name="api_key_revoked_has_time",
                violation_error_message=_("A revoked key records when it was revoked."),
            )
        ]

    def principal(self) -> MachinePrincipal:
        """What ``request.user`` is for a request made with this key."""
        return MachinePrincipal(
            key_id=self.pk,
            key_prefix=self.prefix,
            organization=self.organization,
            scopes=frozenset(self.scopes),
        )


class IdempotencyKey(models.Model):
    """An ``Idempotency-Key`` an organisation's upsert used, with the answer it got: a retry of
    the same body within ``api.upsert.IDEMPOTENCY_TTL`` gets that answer again and applies
    nothing; a different body under the same key is refused. Only a request that applied is
    remembered (one that was refused applied nothing, so it may be retried as it is or
    corrected). The stored answer holds counts only, never personal data."""

    organization = models.ForeignKey(
        "customers.Organization",
        verbose_name=_("organisation"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    key = models.CharField(_("key"), max_length=255)
    body_hash = models.CharField(_("body hash"), max_length=64)
    status = models.PositiveSmallIntegerField(_("status"))
    response = models.JSONField(_("response"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [
            models.UniqueConstraint(
                fields=("organization", "key"), name="api_idempotency_key_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organization_id}:{self.key}"


# The webhook models live in their own module; imported here so Django finds them.
from .webhook_models import (  # noqa: E402,F401
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
