"""Webhooks: endpoints of an organisation's system, and the outbox of deliveries to them.

A delivery row is written in the transaction of the event it tells about (api/webhooks.py), so
it exists if and only if the event does; a task sends it after the commit, and a sweeper sends
the ones whose message was lost or whose next attempt is due. Every attempt is a row of its
own: what answered, how long it took, what went wrong.

The endpoint's secret signs every delivery (Standard Webhooks), so it must be read back: it is
sealed under the active master key (AES-GCM, ``transferdesk.crypto``), never stored in clear,
and shown to a person once, when the endpoint is created; every master-key rotation seals it
again under the active key (``api.webhooks.reseal_secrets``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class WebhookEventType(models.TextChoices):
    STAGE_DELIVERED = "stage.delivered", _("A stage was delivered")
    FOLLOWUP_CREATED = "followup.created", _("Follow-up tasks were created")
    FOLLOWUP_DUE = "followup.due", _("A follow-up task nears its deadline")
    REQUEST_RECEIVED = "request.received", _("A data-subject request was received")
    DEAL_CANCELLED = "deal.cancelled", _("A deal was cancelled")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class WebhookEndpoint(models.Model):
    organization = models.ForeignKey(
        "customers.Organization",
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="webhook_endpoints",
    )
    url = models.URLField(_("address"), max_length=500)
    description = models.CharField(_("description"), max_length=100, blank=True)
    #: ``whsec_…`` sealed under a master key (api/webhooks.py ``seal_secret``).
    sealed_secret = models.TextField(_("sealed secret"), editable=False)
    event_types = models.JSONField(_("events"), default=list)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    disabled_at = models.DateTimeField(_("disabled"), null=True, blank=True)

    class Meta:
        ordering = ["-active", "-created_at"]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One message to one endpoint (the outbox row); its id is the ``webhook-id`` header, the
    same on every attempt and replay, so the receiver can drop a message it already has."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, verbose_name=_("endpoint"), on_delete=models.PROTECT,
        related_name="deliveries",
    )  # fmt: skip
    event_type = models.CharField(_("event"), max_length=40, choices=WebhookEventType.choices)
    #: The body, exactly as sent and signed: ids and links, never personal data.
    body = models.TextField(_("body"))
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    #: Attempts since it was written or last replayed (the backoff counts these).
    tries = models.PositiveIntegerField(_("tries"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.message_id}"

    @property
    def message_id(self) -> str:
        return f"msg_{self.pk.hex}"


class WebhookAttempt(models.Model):
    """One POST of a delivery: its answer's status (none if it never came), duration, error."""

    delivery = models.ForeignKey(
        WebhookDelivery, verbose_name=_("delivery"), on_delete=models.CASCADE,
        related_name="attempts",
    )  # fmt: skip
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    status_code = models.PositiveIntegerField(_("status code"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    error = models.CharField(_("error"), max_length=300, blank=True)
    replay = models.BooleanField(_("replay"), default=False)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
