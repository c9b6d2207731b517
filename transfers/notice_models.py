"""Transfer notices, the customer's personal links, data-subject requests and consents.

The customers become a party to the deal here (PIPL art. 22; GDPR art. 13/14 and 15-21): a
campaign tells each of them who the new holder is, a personal link lets them see what is held
and object, correct, erase or complain, and a register holds every request with its legal
deadline. Registered on ``transfers.models`` with one import line, so migrations stay in the
``transfers`` app while the deals engineer keeps ``models.py`` to themselves.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from transferdesk.crypto.fields import EncryptedTextField
from transferdesk.crypto.models import DataKey, EncryptedModel
from transferdesk.permissions import RestrictedQuerySet

__all__ = [
    "CampaignKind",
    "CampaignStatus",
    "ConsentRecord",
    "DataSubjectRequest",
    "IdentityCheck",
    "Notice",
    "NoticeCampaign",
    "NoticeChannel",
    "NoticeLink",
    "NoticeStatus",
    "RequestKind",
    "RequestSource",
    "RequestStatus",
]


def _deal_q(user: Any, action: str, prefix: str) -> Q:
    # Imported late: models.py imports this module at its end.
    from .models import deal_scope_q

    return deal_scope_q(user, action, prefix)


def customer_reference_field(**kwargs: Any) -> models.ForeignKey:
    """A link to a customer that outlives the customer row.

    Erasure deletes customer rows with raw SQL after crypto-shredding (``audits.retention``),
    so a database constraint here would make every erasure of a notified customer fail. The
    delivery records, links and the register must stay as evidence anyway: the column keeps
    the id, joins find nothing, and pages show the customer as erased.
    """
    return models.ForeignKey(
        Customer,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
        **kwargs,
    )


class CampaignKind(models.TextChoices):
    #: Tell a deal's customers who the new holder of their data is (PIPL art. 22).
    TRANSFER = "transfer", _("Transfer notice")
    #: Tell the people an incident affected what happened to their data (GDPR art. 34;
    #: PIPL art. 57). Belongs to an incident, not to a deal: compliance officers only.
    INCIDENT = "incident", _("Incident notice")


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Prepared, waiting for approval")
    APPROVED = "approved", _("Approved, not sent")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")


class NoticeChannel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    LETTER = "letter", _("Letter")
    PHONE = "phone", _("Phone")


class NoticeStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Delivery failed")
    MANUAL = "manual", _("No usable contact: notify by letter or phone")
    MANUAL_DONE = "manual_done", _("Notified by letter or phone")


class NoticeCampaign(models.Model):
    """One round of notices, prepared, approved by a compliance officer who did not prepare it
    (four eyes), then sent in batches as a job.

    A *transfer* campaign belongs to a deal: its objection deadline closes the deal's objection
    window (``TransferDeal.notice_window_closed``). An *incident* campaign belongs to an
    incident and to no deal, so nothing of the deal's notice period or stage approval ever
    counts its notices, and the deal-scoped door lets only compliance officers reach it; its
    notices carry the fields each customer had exposed (``Notice.fields``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(
        _("kind"), max_length=16, choices=CampaignKind.choices, default=CampaignKind.TRANSFER
    )
    deal = models.ForeignKey(
        "transfers.TransferDeal",
        on_delete=models.CASCADE,
        related_name="notice_campaigns",
        null=True,
        blank=True,
    )
    incident = models.ForeignKey(
        "audits.Incident",
        verbose_name=_("incident"),
        on_delete=models.PROTECT,
        related_name="notice_campaigns",
        null=True,
        blank=True,
    )
    status = models.CharField(
        _("status"), max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    objection_deadline = models.DateTimeField(_("objection deadline"), null=True, blank=True)
    categories = models.JSONField(_("categories transferred"), default=list)
    stages_planned = models.JSONField(_("stages planned"), default=list)
    purpose_changed = models.BooleanField(
        _("purpose differs from the purpose of collection"), default=False
    )
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    prepared_at = models.DateTimeField(_("prepared"), default=timezone.now)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sending started"), null=True, blank=True)
    job = models.ForeignKey(
        "transferdesk.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-prepared_at"]
        verbose_name = _("notice campaign")
        verbose_name_plural = _("notice campaigns")
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(
                        kind="transfer",
                        deal__isnull=False,
                        incident__isnull=True,
                        objection_deadline__isnull=False,
                    )
                    | Q(kind="incident", deal__isnull=True, incident__isnull=False)
                ),
                name="notice_campaign_kind_subject",
                violation_error_message=_(
                    "Transfer notices belong to a deal and set an objection deadline; incident "
                    "notices belong to an incident and to no deal."
                ),
            ),
            models.UniqueConstraint(
                fields=["incident"],
                condition=Q(incident__isnull=False),
                name="notice_campaign_once_per_incident",
                violation_error_message=_("This incident already has its notices."),
            ),
        ]

    def __str__(self) -> str:
        return f"notices {self.deal_id or self.incident_id} {self.prepared_at:%Y-%m-%d}"

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        return _deal_q(user, action, "deal")

    @property
    def window_closed(self) -> bool:
        return (
            self.status == CampaignStatus.SENT
            and self.objection_deadline is not None
            and self.objection_deadline <= timezone.now()
        )


class Notice(models.Model):
    """One customer's notice in one campaign: the channel, when it went, and why it did not.

    Holds no contact data: the address is read from the customer record at sending time, so
    an erased customer leaves only this delivery record behind.
    """

    id = models.BigAutoField(primary_key=True)
    campaign = models.ForeignKey(NoticeCampaign, on_delete=models.CASCADE, related_name="notices")
    customer = customer_reference_field()
    channel = models.CharField(
        _("channel"), max_length=8, choices=NoticeChannel.choices, default=NoticeChannel.EMAIL
    )
    language = models.CharField(_("language"), max_length=16, default="en")
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=NoticeStatus.choices,
        default=NoticeStatus.PENDING,
        db_index=True,
    )
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    failure_reason = models.CharField(_("failure reason"), max_length=255, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    #: Incident notices: the names of the customer's fields the access log shows read (never
    #: their values), frozen when the notices are prepared so that what compliance approves is
    #: what each customer is told.
    fields = models.JSONField(_("data concerned"), default=list, blank=True)
    #: Incident notices: the deal whose personal link the notice carries (the customer's page,
    #: where they see what is held and can complain or ask for erasure); none when the access
    #: named no deal of the customer's book.
    link_deal = models.ForeignKey(
        "transfers.TransferDeal",
        verbose_name=_("link for the deal"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["campaign", "id"]
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "customer"],
                name="notice_once_per_campaign_and_customer",
                violation_error_message=_("This customer already has a notice in this campaign."),
            )
        ]

    def __str__(self) -> str:
        return f"notice {self.pk}"

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        return _deal_q(user, action, "campaign__deal")


class NoticeLink(models.Model):
    """A customer's personal link to their page for one deal.

    The signed token carries only this row's id; the row binds the customer and the deal and
    can be revoked, so a leaked or reissued link stops working even before it expires.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    deal = models.ForeignKey(
        "transfers.TransferDeal", on_delete=models.CASCADE, related_name="notice_links"
    )
    customer = customer_reference_field()
    channel = models.CharField(
        _("issued for"), max_length=8, choices=NoticeChannel.choices, default=NoticeChannel.EMAIL
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    issued_at = models.DateTimeField(_("issued"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-issued_at"]
        verbose_name = _("customer link")
        verbose_name_plural = _("customer links")
        indexes = [models.Index(fields=["deal", "customer"], name="noticelink_deal_customer")]

    def __str__(self) -> str:
        return f"link {self.pk}"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class RequestKind(models.TextChoices):
    ACCESS = "access", _("Access")
    CORRECTION = "correction", _("Correction")
    ERASURE = "erasure", _("Erasure")
    OBJECTION = "objection", _("Objection to the transfer")
    COMPLAINT = "complaint", _("Complaint")
    RESTRICTION = "restriction", _("Restriction of processing")


class RequestSource(models.TextChoices):
    CUSTOMER_PAGE = "customer_page", _("Customer page")
    EMAIL = "email", _("E-mail")
    PHONE = "phone", _("Phone")
    LETTER = "letter", _("Letter")
    #: Sent by the seller's own website through the API (``requests.write``): the seller
    #: signed the person in, not us, so their identity is still to be checked.
    WEBSITE = "website", _("Seller's website")


class IdentityCheck(models.TextChoices):
    #: A request made through the personal link: the signed link is the identity proof.
    LINK = "link", _("Verified by the personal link")
    PENDING = "pending", _("To be checked")
    VERIFIED = "verified", _("Verified")
    FAILED = "failed", _("Could not be verified")


class RequestStatus(models.TextChoices):
    OPEN = "open", _("Open")
    WAITING = "waiting", _("Open: waiting for a service that does not exist yet")
    FULFILLED = "fulfilled", _("Fulfilled")
    REFUSED = "refused", _("Refused")


class DataSubjectRequest(EncryptedModel):
    """One request of a customer (GDPR arts. 15-21; PIPL arts. 44-47), with its legal deadline.

    What the customer wrote (a correction's new value, a complaint) is personal data, so it is
    encrypted under the customer's own data key: erasing the customer erases it too.
    """

    data_key_path = "data_key"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = customer_reference_field(verbose_name=_("customer"))
    #: The customer's own data key (kept as a tombstone when they are erased).
    data_key = models.ForeignKey(
        DataKey, verbose_name=_("data key"), on_delete=models.PROTECT, related_name="+"
    )
    deal = models.ForeignKey(
        "transfers.TransferDeal",
        verbose_name=_("deal"),
        on_delete=models.CASCADE,
        related_name="subject_requests",
    )
    kind = models.CharField(_("kind"), max_length=16, choices=RequestKind.choices)
    source = models.CharField(_("source"), max_length=16, choices=RequestSource.choices)
    identity_check = models.CharField(
        _("identity check"),
        max_length=16,
        choices=IdentityCheck.choices,
        default=IdentityCheck.PENDING,
    )
    jurisdiction = models.CharField(_("jurisdiction"), max_length=16, default="PIPL")
    field_name = models.CharField(_("field to correct"), max_length=64, blank=True)
    requested_value = EncryptedTextField(_("requested value"), max_length=4000, blank=True)
    message = EncryptedTextField(_("message"), max_length=4000, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=RequestStatus.choices,
        default=RequestStatus.OPEN,
        db_index=True,
    )
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    due_at = models.DateTimeField(_("due"), db_index=True)
    reminded_at = models.DateTimeField(_("reminder sent"), null=True, blank=True)
    outcome_reason = models.TextField(_("reason for the outcome"), blank=True)
    waiting_reason = models.CharField(_("why it is still open"), max_length=255, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["due_at"]
        verbose_name = _("data-subject request")
        verbose_name_plural = _("data-subject requests")
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="refused") | ~Q(outcome_reason=""),
                name="request_refusal_has_reason",
                violation_error_message=_("A refusal needs a reason."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk}"

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        return _deal_q(user, action, "deal")

    @property
    def is_closed(self) -> bool:
        return self.status in (RequestStatus.FULFILLED, RequestStatus.REFUSED)

    @property
    def is_overdue(self) -> bool:
        return not self.is_closed and self.due_at < timezone.now()


class ConsentRecord(models.Model):
    """A customer's recorded consent to a new purpose (PIPL art. 22, last sentence): needed for
    identified stages of a deal whose declared purpose differs from the purpose of collection."""

    deal = models.ForeignKey(
        "transfers.TransferDeal", on_delete=models.CASCADE, related_name="consents"
    )
    customer = customer_reference_field()
    source = models.CharField(_("source"), max_length=16, choices=RequestSource.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now)

    class Meta:
        verbose_name = _("consent to a new purpose")
        verbose_name_plural = _("consents to a new purpose")
        constraints = [
            models.UniqueConstraint(
                fields=["deal", "customer"],
                name="consent_once_per_deal_and_customer",
                violation_error_message=_("This consent is already recorded."),
            )
        ]

    def __str__(self) -> str:
        return f"consent {self.deal_id}/{self.customer_id}"
