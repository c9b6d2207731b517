"""Transfer deals, who works on them, their NDAs, and the staged handover of customer records.

A deal's reach is its guardian object permissions (direct foreign-key permission models, so
a deleted deal takes its grants with it and lookups are plain joins). Stages and items have no
permissions of their own: they are reached through their deal (``restrict_q``).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from accounts.choices import Role
from customers.models import Organization
from transferdesk.models import DataKey
from transferdesk.permissions import RestrictedQuerySet
from transferdesk.principals import ApiScope

from .choices import AssignmentRole, DealStatus, RunRefusal, StageKind, StageStatus

#: ``restrict(user, action)`` action → the deal permission it needs.
ACTION_PERMISSIONS = {
    "view": "view_transferdeal",
    "change": "change_transferdeal",
    "plan": "plan_stages",
    "approve": "approve_stages",
    "portal": "access_portal",
}
#: Actions the compliance function holds on every deal (DESIGN.md: compliance sees every deal).
COMPLIANCE_ACTIONS = frozenset({"view", "approve"})
#: ``restrict(key, action)`` action → the API scopes of which a key needs one (principals).
#: "portal" is the buyer portal's side of a deal (its reads and the buyer's writes: receipts,
#: acknowledgements, follow-up tasks): a buyer's key reaches it for its organisation's deals
#: as their buyer only; each API view still asks for the one scope it needs.
MACHINE_ACTION_SCOPES = {
    "view": (ApiScope.STAGES_READ,),
    "portal": (ApiScope.STAGES_READ, ApiScope.FOLLOWUPS_WRITE),
    # The seller's website registers a data-subject request under the deal.
    "request": (ApiScope.REQUESTS_WRITE,),
}
#: The stages a buyer's key sees: handed over, as in the buyer portal.
MACHINE_BUYER_STAGES = (StageStatus.DELIVERED, StageStatus.ACKNOWLEDGED)


def machine_deal_q(principal: Any, action: str, prefix: str = "") -> Q:
    """Rows whose deal (reached by ``prefix``) has the key's organisation as seller or buyer
    (as buyer only for "portal"), if the key holds a scope the action needs; nothing
    otherwise."""
    scopes = MACHINE_ACTION_SCOPES.get(action, ())
    if not any(principal.has_scope(scope) for scope in scopes):
        return Q(pk__in=[])
    path = f"{prefix}__" if prefix else ""
    buyer = Q(**{f"{path}buyer_id": principal.organization_id})
    if action == "portal":
        return buyer
    return Q(**{f"{path}seller_id": principal.organization_id}) | buyer


def machine_seller_events_q(principal: Any) -> Q:
    """The audit events of the deals the key's organisation sells: a seller's key reads every
    event of its deals (registered with ``transferdesk.trail.scoping`` at start-up). Events
    name their deal by the text of its primary key."""
    deals = TransferDeal.objects.filter(seller_id=principal.organization_id)
    return Q(deal_ref__in=[str(pk) for pk in deals.values_list("pk", flat=True)])


def deal_scope_q(user: Any, action: str, prefix: str = "") -> Q:
    """Rows whose deal (reached by ``prefix``) the user may reach for ``action``."""
    if action in COMPLIANCE_ACTIONS and user.has_role(Role.COMPLIANCE):
        return Q()
    codename = ACTION_PERMISSIONS.get(action)
    if codename is None:
        raise ValueError(f"unknown deal action {action!r}")
    granted = TransferDealUserObjectPermission.objects.filter(
        user_id=user.pk,
        permission__codename=codename,
        permission__content_type__app_label="transfers",
    ).values("content_object_id")
    return Q(**{f"{prefix}pk__in" if not prefix else f"{prefix}_id__in": granted})


class TransferDeal(models.Model):
    """One sale of a seller's customer book (or part of it) to one buyer.

    Competing bidders are separate deals on the same seller: each has its own key, stages and
    permissions, so one bidder never sees another's deal.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(_("reference"), max_length=32, unique=True)
    title = models.CharField(_("title"), max_length=200)
    seller = models.ForeignKey(
        Organization, verbose_name=_("seller"), on_delete=models.PROTECT, related_name="+"
    )
    buyer = models.ForeignKey(
        Organization, verbose_name=_("buyer"), on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=16, choices=DealStatus.choices, default=DealStatus.DRAFT
    )
    target_closing_date = models.DateField(_("target closing date"), null=True, blank=True)
    purposes = models.TextField(_("purposes declared by the buyer"))
    legal_basis = models.CharField(_("legal basis"), max_length=255)
    cross_border = models.BooleanField(_("cross-border transfer"), default=False)
    destination_country = models.CharField(
        _("destination country"), max_length=2, blank=True, help_text=_("ISO 3166-1 alpha-2 code")
    )
    cross_border_assessment = models.TextField(
        _("cross-border assessment"),
        blank=True,
        help_text=_("Required before any identified stage of a cross-border deal."),
    )
    data_key = models.OneToOneField(
        DataKey,
        verbose_name=_("deal key"),
        on_delete=models.PROTECT,
        related_name="deal",
        editable=False,
    )
    signing_key_fingerprint = models.CharField(
        _("receipt signing key fingerprint"), max_length=128, editable=False
    )
    #: Filled by the notices issue: when the transfer notices went out and when the objection
    #: window closes. Until then identified stages cannot be approved.
    notices_sent_at = models.DateTimeField(_("notices sent"), null=True, blank=True)
    objection_window_closes_at = models.DateTimeField(
        _("objection window closes"), null=True, blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("transfer deal")
        verbose_name_plural = _("transfer deals")
        permissions = [
            ("plan_stages", _("Can plan the handover stages of the deal")),
            ("approve_stages", _("Can approve the handover stages of the deal")),
            ("access_portal", _("Can open the deal in the buyer portal")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(seller=models.F("buyer")),
                name="deal_seller_is_not_buyer",
                violation_error_message=_("The seller and the buyer must be different."),
            ),
            models.CheckConstraint(
                condition=Q(cross_border=False) | ~Q(destination_country=""),
                name="deal_cross_border_names_country",
                violation_error_message=_("A cross-border deal names its destination country."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        return deal_scope_q(user, action)

    @classmethod
    def restrict_machine_q(cls, principal: Any, action: str) -> Q:
        return machine_deal_q(principal, action)

    @property
    def notice_window_closed(self) -> bool:
        """Hook for the notices issue: True once notices were sent and the objection window
        has closed. Identified stages cannot be approved before (DESIGN.md guarantee 8)."""
        return bool(
            self.notices_sent_at
            and self.objection_window_closes_at
            and self.objection_window_closes_at <= timezone.now()
        )

    @property
    def needs_cross_border_assessment(self) -> bool:
        return self.cross_border and not self.cross_border_assessment.strip()


class TransferDealUserObjectPermission(UserObjectPermissionBase):
    """Guardian direct foreign-key user permissions on deals (cascade with the deal)."""

    content_object = models.ForeignKey(TransferDeal, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = _("deal user permission")


class TransferDealGroupObjectPermission(GroupObjectPermissionBase):
    """Guardian direct foreign-key group permissions on deals; roles never carry object
    permissions, but guardian needs the model to answer group lookups without generic keys."""

    content_object = models.ForeignKey(TransferDeal, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = _("deal group permission")


class DealAssignment(models.Model):
    """Who works on a deal and in which role; the matching object permissions follow it."""

    deal = models.ForeignKey(TransferDeal, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(_("role"), max_length=16, choices=AssignmentRole.choices)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    assigned_at = models.DateTimeField(_("assigned"), default=timezone.now)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["role", "assigned_at"]
        verbose_name = _("deal assignment")
        verbose_name_plural = _("deal assignments")
        constraints = [
            models.UniqueConstraint(
                fields=["deal", "user", "role"],
                name="assignment_unique",
                violation_error_message=_("This person already has this role on the deal."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role}"

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        return deal_scope_q(user, action, "deal")


class Nda(models.Model):
    """One version of a deal's confidentiality agreement, with the SHA-256 of its text."""

    deal = models.ForeignKey(TransferDeal, on_delete=models.CASCADE, related_name="ndas")
    version = models.PositiveIntegerField(_("version"))
    text = models.TextField(_("text"))
    text_sha256 = models.CharField(_("SHA-256 of the text"), max_length=64, editable=False)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    published_at = models.DateTimeField(_("published"), default=timezone.now)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["deal", "-version"]
        verbose_name = _("NDA version")
        verbose_name_plural = _("NDA versions")
        constraints = [
            models.UniqueConstraint(
                fields=["deal", "version"],
                name="nda_version_unique",
                violation_error_message=_("This NDA version already exists."),
            )
        ]

    def __str__(self) -> str:
        return f"NDA v{self.version}"

    @staticmethod
    def hash_text(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        return deal_scope_q(user, action, "deal")


class NdaAcceptance(models.Model):
    """A buyer user's acceptance of one NDA version: when, from where, of which exact text."""

    nda = models.ForeignKey(Nda, on_delete=models.CASCADE, related_name="acceptances")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    accepted_at = models.DateTimeField(_("accepted"), default=timezone.now)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True)
    text_sha256 = models.CharField(_("SHA-256 of the accepted text"), max_length=64)

    class Meta:
        ordering = ["-accepted_at"]
        verbose_name = _("NDA acceptance")
        verbose_name_plural = _("NDA acceptances")
        constraints = [
            models.UniqueConstraint(
                fields=["nda", "user"],
                name="nda_accepted_once",
                violation_error_message=_("This NDA version is already accepted."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.nda}"


class HandoverStage(models.Model):
    """One reviewed step of the handover: which customers, which layer, which tiers.

    The row is the source of truth for the engine (DESIGN.md guarantee 7): its status, lease and
    heartbeat say whether a worker owns it, and the sweeper re-enqueues it when none does.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    deal = models.ForeignKey(TransferDeal, on_delete=models.CASCADE, related_name="stages")
    order = models.PositiveIntegerField(_("order"))
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=StageKind.choices)
    tier_scope = models.JSONField(_("tiers"), default=list)
    selection = models.JSONField(
        _("selection"), default=dict, blank=True, help_text=_("Empty: all customers.")
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=StageStatus.choices,
        default=StageStatus.DRAFT,
        db_index=True,
    )
    preview = models.JSONField(_("preview"), default=dict, blank=True)
    exclusions = models.JSONField(_("exclusions"), default=dict, blank=True)
    result = models.JSONField(_("aggregate result"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    approval_note = models.TextField(_("approval note"), blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rejection_reason = models.TextField(_("rejection reason"), blank=True)
    failure_reason = models.TextField(_("failure reason"), blank=True)
    #: Why the engine refused to run the stage (its approval did not match it); shown in the
    #: reader's language, while ``failure_reason`` keeps the English text for logs.
    refusal = models.CharField(
        _("refused because"), max_length=32, choices=RunRefusal.choices, blank=True
    )
    done = models.BigIntegerField(_("done"), default=0)
    total = models.BigIntegerField(_("total"), default=0)
    skipped = models.BigIntegerField(_("skipped at run time"), default=0)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last progress"), null=True, blank=True)
    lease = models.CharField(_("worker lease"), max_length=64, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["deal", "order"]
        verbose_name = _("handover stage")
        verbose_name_plural = _("handover stages")
        constraints = [
            models.UniqueConstraint(
                fields=["deal", "order"],
                name="stage_order_unique_per_deal",
                violation_error_message=_("The deal already has a stage with this order."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.order}. {self.name}"

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        return deal_scope_q(user, action, "deal")

    @classmethod
    def restrict_machine_q(cls, principal: Any, action: str) -> Q:
        """The seller's key sees every stage of its deals; a buyer's key only those handed
        over (the buyer never sees the plan of stages not yet delivered)."""
        deal_q = machine_deal_q(principal, action, "deal")
        return deal_q & (
            Q(deal__seller_id=principal.organization_id) | Q(status__in=MACHINE_BUYER_STAGES)
        )

    @property
    def percent(self) -> int:
        if self.status in (StageStatus.DELIVERED, StageStatus.ACKNOWLEDGED):
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def rate_per_second(self) -> float | None:
        if not self.started_at or not self.done:
            return None
        end = self.delivered_at or self.heartbeat_at or timezone.now()
        seconds = (end - self.started_at).total_seconds()
        return self.done / seconds if seconds > 0 else None

    @property
    def seconds_left(self) -> int | None:
        rate = self.rate_per_second
        if self.status != StageStatus.RUNNING or not rate or not self.total:
            return None
        return max(0, int((self.total - self.done) / rate))

    @property
    def is_in_flight(self) -> bool:
        return self.status in (StageStatus.APPROVED, StageStatus.RUNNING)


class HandoverItem(models.Model):
    """One customer's snapshot in one stage, encrypted under the deal key.

    The associated data names the stage and the customer, so a snapshot copied to another
    item does not decrypt; the digest is over the canonical plaintext, so receipts can be
    checked without the key. Unique per stage and customer: a redelivered chunk inserts
    nothing twice.
    """

    id = models.BigAutoField(primary_key=True)
    # No index of its own: the unique (stage, customer) index serves every lookup by stage,
    # and a second one costs each insert of the engine's hot loop for nothing (and tempts the
    # planner into scanning a whole stage to find one customer's range). Lookups by customer
    # alone (a correction, erasure or purge finding the copies to follow up) have their own
    # index in Meta: without it each of them scans every item of every deal.
    stage = models.ForeignKey(
        HandoverStage, on_delete=models.CASCADE, related_name="items", db_index=False
    )
    customer_id = models.UUIDField(_("customer"))
    recipient = models.ForeignKey(
        Organization, verbose_name=_("recipient"), on_delete=models.PROTECT, related_name="+"
    )
    snapshot = models.BinaryField(_("encrypted snapshot"))
    digest = models.CharField(_("SHA-256 of the canonical snapshot"), max_length=64)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["stage", "customer_id"]
        indexes = [models.Index(fields=["customer_id"], name="item_customer")]
        verbose_name = _("handover item")
        verbose_name_plural = _("handover items")
        constraints = [
            models.UniqueConstraint(
                fields=["stage", "customer_id"],
                name="item_once_per_stage_and_customer",
                violation_error_message=_("This customer is already in this stage."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.stage_id}/{self.customer_id}"

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        return deal_scope_q(user, action, "stage__deal")

    @staticmethod
    def aad(stage_id: Any, customer_id: Any) -> bytes:
        return f"transfers.HandoverItem|{stage_id}|{customer_id}".encode()


class StageApproval(models.Model):
    """The four-eyes approval of a stage, bound to what was approved.

    Written only by ``services.stage_approve``: who asked, which compliance officer approved,
    the kind, tiers and selection the stage had then, and how many customers it selected
    (the customers themselves are ``ApprovedCustomer`` rows). The engine runs a stage only
    when its latest approval still matches the stage row and verifies its seal (an HMAC under
    a key derived from the receipt signing key, which is not in the database), so a stage
    row changed afterwards, in the admin or in the database, is refused, not delivered.
    """

    id = models.BigAutoField(primary_key=True)
    stage = models.ForeignKey(HandoverStage, on_delete=models.CASCADE, related_name="approvals")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    approved_at = models.DateTimeField(_("approved"), default=timezone.now)
    kind = models.CharField(_("kind"), max_length=16, choices=StageKind.choices)
    tier_scope = models.JSONField(_("tiers"), default=list)
    selection = models.JSONField(_("selection"), default=dict, blank=True)
    customers = models.BigIntegerField(_("customers approved"))
    seal = models.CharField(_("seal"), max_length=64)

    class Meta:
        ordering = ["stage", "-approved_at"]
        verbose_name = _("stage approval")
        verbose_name_plural = _("stage approvals")
        constraints = [
            models.CheckConstraint(
                condition=~Q(requested_by=models.F("approved_by")),
                name="stage_approval_four_eyes",
                violation_error_message=_(
                    "A stage is approved by someone other than its requester."
                ),
            )
        ]

    def __str__(self) -> str:
        return f"approval {self.pk} of {self.stage_id}"

    def scope(self) -> dict[str, Any]:
        """What the approval binds, in the form the seal covers."""
        return {
            "stage": str(self.stage_id),
            "requested_by": self.requested_by_id,
            "approved_by": self.approved_by_id,
            "approved_at": self.approved_at.isoformat(),
            "kind": str(self.kind),
            "tier_scope": sorted(self.tier_scope),
            "selection": {k: sorted(map(str, v)) for k, v in (self.selection or {}).items()},
            "customers": self.customers,
        }


class ApprovedCustomer(models.Model):
    """One customer of an approved stage's population, frozen at approval.

    The engine hands over only these customers (and only those of them still eligible when it
    runs: an objection after approval still excludes), so a customer imported after approval
    is never delivered in that stage. No foreign key to the customer: erasure deletes customer
    rows with raw SQL, as for handover items.
    """

    id = models.BigAutoField(primary_key=True)
    approval = models.ForeignKey(
        StageApproval, on_delete=models.CASCADE, related_name="members", db_index=False
    )
    customer_id = models.UUIDField(_("customer"))

    class Meta:
        verbose_name = _("approved customer")
        verbose_name_plural = _("approved customers")
        constraints = [
            models.UniqueConstraint(
                fields=["approval", "customer_id"],
                name="approved_customer_once",
                violation_error_message=_("This customer is already in this approval."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.approval_id}/{self.customer_id}"


class StageManifest(models.Model):
    """What a delivered stage contains, signed: counts, Merkle root, audit chain head."""

    stage = models.OneToOneField(HandoverStage, on_delete=models.CASCADE, related_name="manifest")
    item_count = models.BigIntegerField(_("items"))
    counts_per_tier = models.JSONField(_("items per tier"), default=dict)
    merkle_root = models.CharField(_("Merkle root"), max_length=64)
    chain_head_seq = models.BigIntegerField(_("audit chain head (position)"))
    chain_head_mac = models.CharField(_("audit chain head (MAC)"), max_length=128)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    body = models.JSONField(_("signed body"), default=dict)
    signature = models.CharField(_("Ed25519 signature"), max_length=128)
    key_fingerprint = models.CharField(_("public key fingerprint"), max_length=128)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("stage manifest")
        verbose_name_plural = _("stage manifests")

    def __str__(self) -> str:
        return f"manifest {self.stage_id}"

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        return deal_scope_q(user, action, "stage__deal")


from .notice_models import *  # noqa: E402,F403
from .portal_models import *  # noqa: E402,F403 - the buyer portal's models
