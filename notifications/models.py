"""Notifications: one row per person told about an event, written in the event's transaction.

A row holds the kind (which is the message's id), the parameters of the message and the path
of the page where the work is, so it is worded in the reader's language when it is shown or
mailed. Parameters are references and numbers, never a customer's personal data.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from transferdesk.permissions import RestrictedQuerySet

from .choices import DEFAULT_DELIVERY, MESSAGES, Delivery, Kind, job_label


class Notification(models.Model):
    """Something that happened which one user should know about, linking to its page."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient"),
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    kind = models.CharField(_("kind"), max_length=40, choices=Kind.choices)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    url = models.CharField(_("link"), max_length=300)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)
    emailed_at = models.DateTimeField(_("e-mailed"), null=True, blank=True)
    digested_at = models.DateTimeField(_("in a digest"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [
            models.Index(fields=["recipient", "read_at"], name="notification_unread"),
            models.Index(fields=["recipient", "-created_at"], name="notification_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient_id}"

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> models.Q:
        """Everyone reaches their own notifications, and only them (administrators too)."""
        return models.Q(recipient_id=user.pk)

    @property
    def text(self) -> str:
        """The message in the current language; a parameter missing from an old row shows as
        a dash rather than failing the page."""
        template = MESSAGES.get(self.kind)
        if template is None:
            return str(self.kind)
        values: defaultdict[str, Any] = defaultdict(lambda: "—", self.params or {})
        if "job" in values:
            values["job"] = job_label(str(values["job"]))
        return str(template).format_map(values)


class EmailPreference(models.Model):
    """How one user wants one kind by e-mail; no row means the kind's default."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_preferences"
    )
    kind = models.CharField(_("kind"), max_length=40, choices=Kind.choices)
    delivery = models.CharField(_("e-mail"), max_length=16, choices=Delivery.choices)

    class Meta:
        verbose_name = _("e-mail preference")
        verbose_name_plural = _("e-mail preferences")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind"],
                name="email_preference_once",
                violation_error_message=_("This kind already has a preference."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}: {self.delivery}"


def deliveries(user_ids: list[Any], kind: str) -> dict[Any, str]:
    """Each user's delivery for ``kind``: their choice, else the kind's default."""
    default = DEFAULT_DELIVERY.get(kind, Delivery.DIGEST)
    chosen = dict(
        EmailPreference.objects.filter(user_id__in=user_ids, kind=kind).values_list(
            "user_id", "delivery"
        )
    )
    return {pk: chosen.get(pk, default) for pk in user_ids}


class DigestSent(models.Model):
    """One digest e-mail per user per day: the row is taken before the e-mail goes, so a
    second run of the digest task on the same day sends nothing twice."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(_("day"))
    notifications = models.PositiveIntegerField(_("notifications"), default=0)
    sent_at = models.DateTimeField(_("sent"), default=timezone.now)

    class Meta:
        verbose_name = _("digest sent")
        verbose_name_plural = _("digests sent")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "day"],
                name="digest_once_a_day",
                violation_error_message=_("This user already had today's digest."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.day}"
