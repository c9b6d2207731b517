"""Access-review campaigns: a periodic, recorded check that every standing permission is
still needed (DESIGN.md: "review permissions periodically")."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audits.labels import object_type_label, permission_label


class CampaignStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class ReviewDecision(models.TextChoices):
    PENDING = "pending", _("Not reviewed yet")
    KEEP = "keep", _("Kept")
    REVOKE = "revoke", _("Revoked")
    EXPIRED = "expired", _("Expired in review")


class AccessReviewCampaign(models.Model):
    """One review of every standing object permission, with a deadline.

    Starting a campaign snapshots each (user, deal or organisation, permission) into an
    ``AccessReviewItem``, so the campaign reviews a fixed list even while grants change; what is
    not kept by the deadline is revoked automatically ("expired in review"), so doing nothing is
    the safe outcome.
    """

    name = models.CharField(_("name"), max_length=200)
    scope = models.CharField(
        _("scope"), max_length=16, default="all", help_text=_("Which grants are reviewed.")
    )
    deadline = models.DateTimeField(_("deadline"))
    status = models.CharField(
        _("status"), max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.OPEN
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewer"),
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Receives the reminders before the deadline."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("started"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("access-review campaign")
        verbose_name_plural = _("access-review campaigns")
        indexes = [models.Index(fields=["status", "deadline"], name="review_status_deadline_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.status == CampaignStatus.OPEN


class AccessReviewItem(models.Model):
    """One grant under review: who holds which permission on which object, and the decision.

    ``grant_model`` and ``grant_id`` name the guardian permission row (any concrete subclass of
    ``UserObjectPermissionBase``), so a revocation deletes exactly the row that was reviewed.
    ``object_label`` is frozen at snapshot time so the report still reads after the object is
    gone; it holds business names (deal reference, organisation name), never customer data.
    """

    campaign = models.ForeignKey(
        AccessReviewCampaign, on_delete=models.CASCADE, related_name="items"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.PROTECT, related_name="+"
    )
    grant_model = models.CharField(_("permission model"), max_length=100)
    grant_id = models.BigIntegerField(_("permission row"))
    permission = models.CharField(_("permission"), max_length=100)
    object_type = models.CharField(_("object type"), max_length=100)
    object_id = models.CharField(_("object id"), max_length=64)
    object_label = models.CharField(_("object"), max_length=255)
    deal_ref = models.CharField(_("deal"), max_length=64, blank=True)
    decision = models.CharField(
        _("decision"),
        max_length=16,
        choices=ReviewDecision.choices,
        default=ReviewDecision.PENDING,
        db_index=True,
    )
    reason = models.TextField(_("reason"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    class Meta:
        ordering = ["campaign", "object_type", "object_label", "user_id", "permission"]
        verbose_name = _("access-review item")
        verbose_name_plural = _("access-review items")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "grant_model", "grant_id"],
                name="review_item_once_per_grant",
                violation_error_message=_("This grant is already part of the campaign."),
            ),
            models.CheckConstraint(
                condition=Q(decision="pending") | Q(decided_at__isnull=False),
                name="review_item_decided_has_time",
                violation_error_message=_("A decision records when it was taken."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.permission} {self.object_label}"

    @property
    def permission_label(self) -> str:
        """The permission in words (the reviewer decides on what it allows, not its code)."""
        return permission_label(self.permission, self.object_type)

    @property
    def object_type_label(self) -> str:
        return object_type_label(self.object_type)


class AccessReviewReminder(models.Model):
    """A reminder e-mail sent to a campaign's reviewer; at most one per day (the constraint
    makes a second beat run on the same day, or a redelivered task, send nothing)."""

    campaign = models.ForeignKey(
        AccessReviewCampaign, on_delete=models.CASCADE, related_name="reminders"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    sent_on = models.DateField(_("sent on"))
    pending = models.PositiveIntegerField(_("grants still to review"))
    sent_at = models.DateTimeField(_("sent"), default=timezone.now)

    class Meta:
        ordering = ["-sent_at"]
        verbose_name = _("access-review reminder")
        verbose_name_plural = _("access-review reminders")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "recipient", "sent_on"],
                name="review_reminder_once_a_day",
                violation_error_message=_("The reviewer was already reminded today."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.sent_on}"
