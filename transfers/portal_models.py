"""What the buyer portal adds to a deal: acknowledgements, questions and answers, exports and
follow-up tasks (GDPR art. 19).

Every row hangs off its deal (directly or through its stage), so the portal's reads go through
the same door as the rest of ``transfers``: ``restrict_q`` built on the deal's permissions.
Registered from ``transfers.models`` (one import line there), so the app has one model
registry and these tables migrate with ``transfers``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from transferdesk.permissions import RestrictedQuerySet
from transferdesk.principals import ApiScope

__all__ = [
    "Answer",
    "FollowUpKind",
    "FollowUpReason",
    "FollowUpStatus",
    "FollowUpTask",
    "PortalExport",
    "Question",
    "StageAcknowledgement",
]


def _scope(user: Any, action: str, prefix: str) -> Q:
    # Imported late: ``transfers.models`` imports this module at its end.
    from .models import deal_scope_q

    return deal_scope_q(user, action, prefix)


class StageAcknowledgement(models.Model):
    """A buyer user's confirmation that they received a stage whose manifest root is
    ``merkle_root``: the root they typed (or pasted) is kept as evidence, not only a flag."""

    stage = models.OneToOneField(
        "transfers.HandoverStage", on_delete=models.CASCADE, related_name="acknowledgement"
    )
    #: The buyer user who acknowledged, or none when the buyer's system did (``api_key``).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    #: The public prefix of the buyer's API key that acknowledged (a key is no user row).
    api_key = models.CharField(_("API key"), max_length=16, blank=True)
    merkle_root = models.CharField(_("manifest root confirmed"), max_length=64)
    acknowledged_at = models.DateTimeField(_("acknowledged"), default=timezone.now)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("stage acknowledgement")
        verbose_name_plural = _("stage acknowledgements")
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, api_key="") | Q(user__isnull=True) & ~Q(api_key=""),
                name="acknowledgement_by_a_user_or_a_key",
                violation_error_message=_("An acknowledgement is made by a user or an API key."),
            ),
        ]

    def __str__(self) -> str:
        return f"ack {self.stage_id}"

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        return _scope(user, action, "stage__deal")


class Question(models.Model):
    """A buyer's question about a delivered stage (or one item of it).

    Threads belong to their deal, never to the seller or the broker firm, so one bidder's
    questions are invisible to another bidder on the same seller (separate deals).
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Awaiting answer")
        ANSWERED = "answered", _("Answered")

    deal = models.ForeignKey(
        "transfers.TransferDeal", on_delete=models.CASCADE, related_name="questions"
    )
    stage = models.ForeignKey(
        "transfers.HandoverStage", on_delete=models.CASCADE, related_name="questions"
    )
    item = models.ForeignKey(
        "transfers.HandoverItem",
        on_delete=models.CASCADE,
        related_name="questions",
        null=True,
        blank=True,
    )
    #: The buyer user who asked, or none when the buyer's system did (``asked_by_key``).
    asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    #: The public prefix of the buyer's API key that asked (a key is no user row).
    asked_by_key = models.CharField(_("asked with API key"), max_length=16, blank=True)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("question"), max_length=4000)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    asked_at = models.DateTimeField(_("asked"), default=timezone.now)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-asked_at"]
        verbose_name = _("buyer question")
        verbose_name_plural = _("buyer questions")
        constraints = [
            models.CheckConstraint(
                condition=Q(asked_by__isnull=False, asked_by_key="")
                | Q(asked_by__isnull=True) & ~Q(asked_by_key=""),
                name="question_by_a_user_or_a_key",
                violation_error_message=_("A question is asked by a user or an API key."),
            ),
        ]

    def __str__(self) -> str:
        return self.subject

    @property
    def asker(self) -> str:
        """Who asked, as pages name them: the person, or the buyer's system by its key."""
        if self.asked_by_id:
            return str(self.asked_by.display_name)  # type: ignore[union-attr]
        return str(_("API key %(key)s")) % {"key": self.asked_by_key}

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        return _scope(user, action, "deal")

    @classmethod
    def restrict_machine_q(cls, principal: Any, action: str) -> Q:
        """A buyer's key holding ``stages.read`` sees its organisation's threads (as the
        deal's buyer); every other key sees none."""
        from .models import machine_deal_q

        if not principal.has_scope(ApiScope.STAGES_READ):
            return Q(pk__in=[])
        return machine_deal_q(principal, "portal", "deal")


class Answer(models.Model):
    """A broker's answer (or a buyer's follow-up) in a question's thread."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="answers")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(_("answer"), max_length=4000)
    answered_at = models.DateTimeField(_("answered"), default=timezone.now)
    #: When the asker saw it on screen; until then the portal shows it as new.
    seen_at = models.DateTimeField(_("seen by the buyer"), null=True, blank=True)
    #: A buyer's follow-up rather than a broker's answer: it reopens the thread for the
    #: brokers and is shown as the buyer's message. Kept on the row (not derived from the
    #: author's roles, which change) so the thread reads the same years later.
    from_buyer = models.BooleanField(_("follow-up from the buyer"), default=False)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["answered_at"]
        verbose_name = _("answer")
        verbose_name_plural = _("answers")

    def __str__(self) -> str:
        return f"answer {self.pk}"

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        return _scope(user, action, "question__deal")


class PortalExport(models.Model):
    """One export of a stage by a buyer user; its id is the watermark's export id."""

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    stage = models.ForeignKey(
        "transfers.HandoverStage", on_delete=models.CASCADE, related_name="exports"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    format = models.CharField(_("format"), max_length=8, choices=Format.choices)
    item_count = models.PositiveIntegerField(_("items"))
    created_at = models.DateTimeField(_("exported"), default=timezone.now)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("portal export")
        verbose_name_plural = _("portal exports")

    def __str__(self) -> str:
        return str(self.pk)

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        return _scope(user, action, "stage__deal")


class FollowUpKind(models.TextChoices):
    UPDATE = "update", _("Update the record")
    DELETE = "delete", _("Delete the record")


class FollowUpReason(models.TextChoices):
    """Why the recipient must act (GDPR art. 19 notifies recipients of these)."""

    CORRECTION = "correction", _("The seller corrected the record")
    ERASURE = "erasure", _("The customer's record was erased")
    OBJECTION = "objection", _("The customer objected to the transfer")
    RESTRICTION = "restriction", _("Processing of the record is restricted")


class FollowUpStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Completed")


class FollowUpTask(models.Model):
    """Something a recipient must do to a record already handed over to them, by a deadline,
    closed by the buyer's attestation (who, when, what they say they did)."""

    item = models.ForeignKey(
        "transfers.HandoverItem", on_delete=models.CASCADE, related_name="followups"
    )
    deal = models.ForeignKey(
        "transfers.TransferDeal", on_delete=models.CASCADE, related_name="followups"
    )
    kind = models.CharField(_("task"), max_length=16, choices=FollowUpKind.choices)
    reason = models.CharField(_("reason"), max_length=32, choices=FollowUpReason.choices)
    due_at = models.DateTimeField(_("due"))
    status = models.CharField(
        _("status"),
        max_length=8,
        choices=FollowUpStatus.choices,
        default=FollowUpStatus.OPEN,
        db_index=True,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    attested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    #: The public prefix of the buyer's API key that attested, when their system did.
    attested_by_key = models.CharField(_("attested by API key"), max_length=16, blank=True)
    attested_at = models.DateTimeField(_("attested"), null=True, blank=True)
    attestation = models.TextField(_("attestation"), blank=True, max_length=2000)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["status", "due_at"]
        verbose_name = _("follow-up task")
        verbose_name_plural = _("follow-up tasks")
        constraints = [
            models.UniqueConstraint(
                fields=["item", "kind"],
                condition=Q(status="open"),
                name="followup_one_open_per_item_and_kind",
                violation_error_message=_("This record already has an open task of this kind."),
            ),
            models.CheckConstraint(
                condition=Q(status="open", attested_at__isnull=True)
                | Q(status="done", attested_at__isnull=False, attested_by__isnull=False)
                | Q(status="done", attested_at__isnull=False) & ~Q(attested_by_key=""),
                name="followup_done_iff_attested",
                violation_error_message=_("A completed task carries its attestation."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.item_id}"

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        return _scope(user, action, "deal")

    @classmethod
    def restrict_machine_q(cls, principal: Any, action: str) -> Q:
        """A buyer's key holding ``followups.write`` sees its organisation's tasks (as the
        deal's buyer); the seller's key and every other key see none."""
        from .models import machine_deal_q

        if not principal.has_scope(ApiScope.FOLLOWUPS_WRITE):
            return Q(pk__in=[])
        return machine_deal_q(principal, "portal", "deal")

    @property
    def is_overdue(self) -> bool:
        return self.status == FollowUpStatus.OPEN and self.due_at < timezone.now()
