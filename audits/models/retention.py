"""Retention policies, legal holds, purge runs, their tombstones and destruction certificates.

The destruction ledger proper is ``transferdesk.DataKey``: a destroyed key keeps its row with
``destroyed_at`` and no key material, and restore re-applies it. The rows here say *why* and
*under which rule* something was destroyed, without holding anything about the person.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RetentionCategory(models.TextChoices):
    """The information categories a policy covers (DESIGN.md: classify customer data)."""

    CUSTOMER_RECORD = "customer_record", _("Customer record")
    PURCHASES = "purchases", _("Purchase records")
    INTERACTIONS = "interactions", _("Interaction records")


class RetentionEvent(models.TextChoices):
    """The event a retention period counts from."""

    DEAL_ENDED = "deal_ended", _("Deal completed or cancelled")
    LAST_INTERACTION = "last_interaction", _("Last interaction")
    CONTRACT_END = "contract_end", _("End of contract (retain-until date)")
    CUSTOMER_SINCE = "customer_since", _("Customer since")
    RECORD_DATE = "record_date", _("Date of the record itself")


class RetentionAction(models.TextChoices):
    DESTROY = "destroy", _("Destroy")
    ANONYMISE = "anonymise", _("Anonymise (keep statistics)")


class RetentionPolicy(models.Model):
    """How long one seller organisation keeps one category of information, and what then.

    A policy does nothing until compliance has looked at its first preview and confirmed it
    (``confirmed_at``): a wrong period must be seen as "12,000 customers due" before any of
    them is destroyed, not after.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "customers.Organization",
        verbose_name=_("seller organisation"),
        on_delete=models.PROTECT,
        related_name="retention_policies",
    )
    category = models.CharField(_("category"), max_length=32, choices=RetentionCategory.choices)
    event = models.CharField(_("counted from"), max_length=32, choices=RetentionEvent.choices)
    period_days = models.PositiveIntegerField(_("period (days)"))
    action = models.CharField(
        _("action"), max_length=16, choices=RetentionAction.choices, default=RetentionAction.DESTROY
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("confirmed by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    confirmed_preview = models.JSONField(_("preview confirmed"), default=dict, blank=True)

    class Meta:
        ordering = ["organization", "category"]
        verbose_name = _("retention policy")
        verbose_name_plural = _("retention policies")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "category"],
                name="retention_policy_once_per_org_category",
                violation_error_message=_(
                    "This organisation already has a policy for this category."
                ),
            ),
            models.CheckConstraint(
                condition=Q(period_days__gte=1),
                name="retention_policy_period_positive",
                violation_error_message=_("The period is at least one day."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id}/{self.category}/{self.period_days}d"

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None


class LegalHold(models.Model):
    """A hold that blocks any purge of one customer or of every customer of one deal.

    ``reason`` is a case or matter reference and a short explanation written by compliance;
    it must not hold the person's data (the form says so), because holds outlive erasures.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="legal_holds",
    )
    deal = models.ForeignKey(
        "transfers.TransferDeal",
        verbose_name=_("deal"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="legal_holds",
    )
    reason = models.CharField(_("reason"), max_length=500)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    placed_at = models.DateTimeField(_("placed"), default=timezone.now)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    released_at = models.DateTimeField(_("released"), null=True, blank=True)

    class Meta:
        ordering = ["-placed_at"]
        verbose_name = _("legal hold")
        verbose_name_plural = _("legal holds")
        constraints = [
            models.CheckConstraint(
                condition=Q(customer__isnull=False, deal__isnull=True)
                | Q(customer__isnull=True, deal__isnull=False),
                name="legal_hold_on_customer_or_deal",
                violation_error_message=_("A legal hold is on one customer or on one deal."),
            )
        ]

    def __str__(self) -> str:
        return f"hold {self.id}"

    @property
    def is_active(self) -> bool:
        return self.released_at is None


class PurgeStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class PurgeRun(models.Model):
    """One run of the purge: what it was asked to do, how far it got, what it destroyed.

    A run interrupted half-way is resumed by running it again: each chunk commits on its own
    and the selection is recomputed, so nothing is purged twice and nothing is skipped.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    policy = models.ForeignKey(
        RetentionPolicy, on_delete=models.PROTECT, null=True, blank=True, related_name="runs"
    )
    request_ref = models.CharField(
        _("request reference"), max_length=64, blank=True, help_text=_("Erasure request or ticket")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=PurgeStatus.choices, default=PurgeStatus.RUNNING
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    job = models.ForeignKey(
        "transferdesk.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    #: The job that builds the certificate of a large run (on the ``reports`` queue); small
    #: runs get theirs inline and never have one.
    certificate_job = models.ForeignKey(
        "transferdesk.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    customers = models.BigIntegerField(_("customers"), default=0)
    rows = models.BigIntegerField(_("rows"), default=0)
    counts = models.JSONField(_("counts per category and tier"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("purge run")
        verbose_name_plural = _("purge runs")

    def __str__(self) -> str:
        return f"purge {self.id}"


class DestructionTombstone(models.Model):
    """What is left of a purged customer: a reference hash, the rule, the time. Nothing else.

    ``reference_hash`` is an HMAC (blind-index key) of the customer's id, so the seller can
    answer "was customer 8f… destroyed, and when?" without the tombstone naming anyone.
    """

    id = models.BigAutoField(primary_key=True)
    reference_hash = models.CharField(_("reference hash"), max_length=64, unique=True)
    organization = models.ForeignKey(
        "customers.Organization", on_delete=models.PROTECT, related_name="+"
    )
    policy = models.ForeignKey(
        RetentionPolicy, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    run = models.ForeignKey(PurgeRun, on_delete=models.PROTECT, related_name="tombstones")
    data_key_id = models.UUIDField(_("data key destroyed"))
    action = models.CharField(_("action"), max_length=16, choices=RetentionAction.choices)
    destroyed_at = models.DateTimeField(_("destroyed"), default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name = _("destruction tombstone")
        verbose_name_plural = _("destruction tombstones")

    def __str__(self) -> str:
        return self.reference_hash[:16]


class CertificateKind(models.TextChoices):
    PURGE = "purge", _("Retention purge or erasure")
    DEAL = "deal", _("Deal destruction")


class DestructionCertificate(models.Model):
    """The PDF that proves a destruction, stored with its SHA-256 so a copy can be checked."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("kind"), max_length=16, choices=CertificateKind.choices)
    run = models.OneToOneField(
        PurgeRun, on_delete=models.PROTECT, null=True, blank=True, related_name="certificate"
    )
    deal_destruction = models.OneToOneField(
        "audits.DealDestruction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="certificate",
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    issued_at = models.DateTimeField(_("issued"), default=timezone.now)
    chain_head = models.CharField(_("audit chain head"), max_length=100)
    no_backup_after = models.DateTimeField(_("no retained backup holds the keys after"))
    key_count = models.BigIntegerField(_("keys destroyed"), default=0)
    pdf = models.BinaryField(_("PDF"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)

    class Meta:
        ordering = ["-issued_at"]
        verbose_name = _("destruction certificate")
        verbose_name_plural = _("destruction certificates")

    def __str__(self) -> str:
        return f"certificate {self.id}"


class DealDestructionReason(models.TextChoices):
    CANCELLED = "cancelled", _("Deal cancelled")
    LOSING_BIDDER = "losing_bidder", _("Losing bidder")


class DealDestructionStatus(models.TextChoices):
    AWAITING_ATTESTATION = "awaiting", _("Key destroyed, waiting for the buyer's attestation")
    ATTESTED = "attested", _("Attested by the buyer")


class DealDestruction(models.Model):
    """The end of a deal that does not go ahead: access revoked, deal key destroyed, the
    buyer's attestation that any copy outside TransferDesk was returned or destroyed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    deal = models.OneToOneField(
        "transfers.TransferDeal", on_delete=models.PROTECT, related_name="destruction"
    )
    reason = models.CharField(_("reason"), max_length=16, choices=DealDestructionReason.choices)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=DealDestructionStatus.choices,
        default=DealDestructionStatus.AWAITING_ATTESTATION,
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    #: The buyer's people whose access the destruction revoked: they, and only they, are
    #: asked for the attestation (the deal is no longer in anybody's portal scope).
    buyers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("buyer users"), blank=True, related_name="+"
    )
    destroyed_at = models.DateTimeField(_("key destroyed"), default=timezone.now)
    revoked_permissions = models.PositiveIntegerField(_("permissions revoked"), default=0)
    items_unreadable = models.BigIntegerField(_("snapshots made unreadable"), default=0)
    attested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    attested_at = models.DateTimeField(_("attested"), null=True, blank=True)
    attestation = models.CharField(
        _("attestation"), max_length=16, blank=True, help_text=_("returned or destroyed")
    )

    class Meta:
        ordering = ["-destroyed_at"]
        verbose_name = _("deal destruction")
        verbose_name_plural = _("deal destructions")

    def __str__(self) -> str:
        return f"destruction of deal {self.deal_id}"
