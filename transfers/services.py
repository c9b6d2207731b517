"""Every write to deals, assignments, NDAs and stages: one function per use case.

Each top-level use case is one durable transaction that ends with its audit event; state
changes are conditional updates whose row count is checked, so two people (or two workers)
racing on the same stage produce one transition and one clear refusal. The engine is enqueued
only after commit (``transaction.on_commit``), and a broker that is down at that moment only
delays a stage: the sweeper picks it up from the stage row (DESIGN.md guarantee 7).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from guardian.shortcuts import assign_perm, remove_perm

from accounts.choices import Role
from customers.choices import Tier
from customers.models import Organization
from notifications.choices import Kind
from transferdesk import jobs
from transferdesk.models import DataKey, DataKeyPurpose
from transferdesk.trail import AuditAction, record_event

from . import signing
from .choices import ROLE_PERMISSIONS, AssignmentRole, DealStatus, StageKind, StageStatus
from .models import (
    ApprovedCustomer,
    DealAssignment,
    HandoverStage,
    Nda,
    NdaAcceptance,
    StageApproval,
    TransferDeal,
)
from .recipients import tell_stage
from .selectors import (
    approved_members,
    approved_population,
    eligible,
    selectable_fields,
    stage_preview,
    stage_selection,
)

logger = logging.getLogger(__name__)


class TransitionRefused(ValidationError):
    """A state change that is not (or no longer) allowed: shown to the person as a message."""


# --- deals ---------------------------------------------------------------------------------

DEAL_FIELDS = (
    "title",
    "target_closing_date",
    "purposes",
    "legal_basis",
    "cross_border",
    "destination_country",
    "cross_border_assessment",
)


@transaction.atomic(durable=True)
def deal_create(
    *,
    actor: Any,
    reference: str,
    title: str,
    seller: Organization,
    buyer: Organization,
    purposes: str,
    legal_basis: str,
    target_closing_date: date | None = None,
    cross_border: bool = False,
    destination_country: str = "",
    cross_border_assessment: str = "",
) -> TransferDeal:
    """Open a deal with its own data key; a broker who opens it is assigned to it at once
    (otherwise they could not see what they created)."""
    deal = TransferDeal(
        reference=reference,
        title=title,
        seller=seller,
        buyer=buyer,
        purposes=purposes,
        legal_basis=legal_basis,
        target_closing_date=target_closing_date,
        cross_border=cross_border,
        destination_country=destination_country.upper(),
        cross_border_assessment=cross_border_assessment,
        created_by=actor,
        signing_key_fingerprint=signing.current_fingerprint(),
    )
    deal.data_key = DataKey.generate(purpose=DataKeyPurpose.DEAL)
    deal.full_clean()
    deal.save(force_insert=True)
    if actor is not None and actor.has_role(Role.BROKER):
        _assign(actor=actor, deal=deal, user=actor, role=AssignmentRole.BROKER)
    record_event(
        action=AuditAction.CREATE,
        actor=actor,
        obj=deal,
        deal=deal,
        details={"seller": seller.pk, "buyer": buyer.pk, "reference": deal.reference},
    )
    return deal


@transaction.atomic(durable=True)
def deal_update(*, actor: Any, deal: TransferDeal, values: Mapping[str, Any]) -> TransferDeal:
    """Change the deal's terms; the event names the fields changed."""
    unknown = set(values) - set(DEAL_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    changed = [name for name, value in values.items() if getattr(deal, name) != value]
    for name in changed:
        setattr(deal, name, values[name])
    if not changed:
        return deal
    deal.full_clean()
    deal.save(update_fields=changed)
    record_event(
        action=AuditAction.UPDATE, actor=actor, obj=deal, deal=deal, details={"fields": changed}
    )
    return deal


def _check_assignable(deal: TransferDeal, user: Any, role: str) -> None:
    required = {
        AssignmentRole.BROKER: Role.BROKER,
        AssignmentRole.COMPLIANCE: Role.COMPLIANCE,
        AssignmentRole.BUYER: Role.BUYER,
    }[AssignmentRole(role)]
    if not user.is_active or not user.has_role(required):
        raise ValidationError(_("This person does not hold the role the assignment needs."))
    if role == AssignmentRole.BUYER and user.organization_id != deal.buyer_id:
        raise ValidationError(_("Only users of the buying organisation can be the deal's buyer."))


def _assign(*, actor: Any, deal: TransferDeal, user: Any, role: str) -> DealAssignment:
    _check_assignable(deal, user, role)
    assignment, created = DealAssignment.objects.get_or_create(
        deal=deal, user=user, role=role, defaults={"assigned_by": actor}
    )
    if not created:
        raise ValidationError(_("This person already has this role on the deal."))
    perms = ROLE_PERMISSIONS[role]
    for perm in perms:
        assign_perm(f"transfers.{perm}", user, deal)
    record_event(
        action=AuditAction.GRANT,
        actor=actor,
        obj=assignment,
        deal=deal,
        details={
            "to_user": user.pk,
            "to_username": user.get_username(),
            "role": str(role),
            "permissions": list(perms),
        },
    )
    return assignment


@transaction.atomic(durable=True)
def deal_assign(*, actor: Any, deal: TransferDeal, user: Any, role: str) -> DealAssignment:
    """Give ``user`` a role on the deal and, at once, the object permissions it carries."""
    return _assign(actor=actor, deal=deal, user=user, role=role)


@transaction.atomic(durable=True)
def deal_unassign(*, actor: Any, assignment: DealAssignment) -> None:
    """Remove an assignment and revoke, at once, every permission no other assignment of the
    same person on the deal still justifies."""
    deal, user, role = assignment.deal, assignment.user, assignment.role
    assignment_pk = assignment.pk
    assignment.delete()
    still = {
        perm
        for other in DealAssignment.objects.filter(deal=deal, user=user)
        for perm in ROLE_PERMISSIONS[other.role]
    }
    revoked = [perm for perm in ROLE_PERMISSIONS[role] if perm not in still]
    for perm in revoked:
        remove_perm(f"transfers.{perm}", user, deal)
    record_event(
        action=AuditAction.REVOKE,
        actor=actor,
        object_type="transfers.dealassignment",
        object_id=assignment_pk,
        deal=deal,
        details={
            "from_user": user.pk,
            "from_username": user.get_username(),
            "role": str(role),
            "permissions": revoked,
        },
    )


@transaction.atomic(durable=True)
def deal_complete(*, actor: Any, deal: TransferDeal) -> TransferDeal:
    """Close a deal whose handover is over: every stage delivered, acknowledged or withdrawn.

    Cancelling a deal (and destroying its key) belongs to the destruction process of the
    retention module (DESIGN.md guarantee 9), not here.
    """
    open_stages = deal.stages.exclude(
        status__in=(
            StageStatus.DELIVERED,
            StageStatus.ACKNOWLEDGED,
            StageStatus.CANCELLED,
            StageStatus.REJECTED,
        )
    )
    if open_stages.exists():
        raise TransitionRefused(_("Stages of this deal are still open; finish or cancel them."))
    if not deal.stages.filter(
        status__in=(StageStatus.DELIVERED, StageStatus.ACKNOWLEDGED)
    ).exists():
        raise TransitionRefused(_("Nothing has been handed over in this deal."))
    updated = TransferDeal.objects.filter(pk=deal.pk, status=DealStatus.IN_HANDOVER).update(
        status=DealStatus.COMPLETED
    )
    if updated != 1:
        raise TransitionRefused(_("Only a deal in handover can be completed."))
    deal.refresh_from_db()
    record_event(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=deal,
        deal=deal,
        details={"status": DealStatus.COMPLETED.value},
    )
    return deal


# --- NDAs ----------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def nda_publish(*, actor: Any, deal: TransferDeal, text: str) -> Nda:
    """Publish a new NDA version; buyers must accept it again before the portal opens."""
    text = text.strip()
    if not text:
        raise ValidationError(_("The NDA needs its text."))
    last = deal.ndas.aggregate(v=Max("version"))["v"] or 0
    nda = Nda(
        deal=deal, version=last + 1, text=text, text_sha256=Nda.hash_text(text), published_by=actor
    )
    nda.full_clean()
    nda.save(force_insert=True)
    record_event(
        action=AuditAction.CREATE,
        actor=actor,
        obj=nda,
        deal=deal,
        details={"version": nda.version, "sha256": nda.text_sha256},
    )
    return nda


def current_nda(deal: TransferDeal) -> Nda | None:
    return deal.ndas.order_by("-version").first()


def has_accepted_current_nda(*, user: Any, deal: TransferDeal) -> bool:
    """The portal's gate: the user accepted the latest version (a new version re-closes it)."""
    nda = current_nda(deal)
    return nda is not None and NdaAcceptance.objects.filter(nda=nda, user=user).exists()


@transaction.atomic(durable=True)
def nda_accept(
    *, actor: Any, nda: Nda, ip: str | None = None, user_agent: str = ""
) -> NdaAcceptance:
    """Record a buyer's acceptance of the current version, with the hash of the exact text."""
    current = current_nda(nda.deal)
    if current is None or current.pk != nda.pk:
        raise ValidationError(_("A newer version of this NDA has been published."))
    if not TransferDeal.objects.restrict(actor, "portal").filter(pk=nda.deal_id).exists():
        raise PermissionDenied
    acceptance, created = NdaAcceptance.objects.get_or_create(
        nda=nda,
        user=actor,
        defaults={"ip": ip or None, "user_agent": user_agent[:512], "text_sha256": nda.text_sha256},
    )
    if created:
        record_event(
            action=AuditAction.NDA_ACCEPTED,
            actor=actor,
            obj=nda,
            deal=nda.deal_id,
            details={"version": nda.version, "sha256": nda.text_sha256},
        )
    return acceptance


# --- stages --------------------------------------------------------------------------------

KIND_TIERS = {
    StageKind.AGGREGATE: {Tier.GENERAL},
    StageKind.PSEUDONYMISED: {Tier.GENERAL},
    StageKind.IDENTIFIED: {Tier.GENERAL, Tier.SENSITIVE, Tier.CORE},
}


def _clean_stage(kind: str, tier_scope: list[str], selection: Mapping[str, Any]) -> list[str]:
    kind = StageKind(kind)
    tiers = [t for t in Tier.values if t in set(tier_scope)]
    if not tiers or not set(tiers) <= KIND_TIERS[kind]:
        raise ValidationError(
            {"tier_scope": _("This kind of stage cannot carry the tiers chosen.")}
        )
    if kind == StageKind.IDENTIFIED and not ({Tier.SENSITIVE, Tier.CORE} & set(tiers)):
        raise ValidationError(
            {"tier_scope": _("An identified stage carries sensitive or core fields.")}
        )
    allowed = set(selectable_fields())
    for name, values in selection.items():
        if name not in allowed or not isinstance(values, list) or not values:
            raise ValidationError({"selection": _("A selection filters on general fields.")})
    return tiers


def _refuse_unless_editable(stage: HandoverStage) -> None:
    if stage.status not in (StageStatus.DRAFT, StageStatus.REJECTED):
        raise TransitionRefused(_("Only a draft or rejected stage can be changed."))


@transaction.atomic(durable=True)
def stage_create(
    *,
    actor: Any,
    deal: TransferDeal,
    name: str,
    kind: str,
    tier_scope: list[str],
    selection: Mapping[str, Any] | None = None,
) -> HandoverStage:
    """Plan a stage (draft); nothing moves until it is submitted and approved."""
    selection = dict(selection or {})
    tiers = _clean_stage(kind, tier_scope, selection)
    # Lock the deal row so two planners never take the same order number.
    TransferDeal.objects.select_for_update().filter(pk=deal.pk).first()
    order = (deal.stages.aggregate(o=Max("order"))["o"] or 0) + 1
    stage = HandoverStage(
        deal=deal,
        order=order,
        name=name,
        kind=kind,
        tier_scope=tiers,
        selection=selection,
        created_by=actor,
    )
    stage.full_clean()
    stage.save(force_insert=True)
    record_event(
        action=AuditAction.CREATE,
        actor=actor,
        obj=stage,
        deal=deal,
        details={"kind": str(kind), "tiers": tiers, "selection_fields": sorted(selection)},
    )
    return stage


@transaction.atomic(durable=True)
def stage_update(*, actor: Any, stage: HandoverStage, values: Mapping[str, Any]) -> HandoverStage:
    """Change a draft (or rejected) stage; a rejected stage returns to draft."""
    stage = HandoverStage.objects.select_for_update().get(pk=stage.pk)
    _refuse_unless_editable(stage)
    for name in ("name", "kind", "tier_scope", "selection"):
        if name in values:
            setattr(stage, name, values[name])
    stage.tier_scope = _clean_stage(stage.kind, stage.tier_scope, stage.selection)
    stage.status = StageStatus.DRAFT
    stage.full_clean()
    stage.save(update_fields=["name", "kind", "tier_scope", "selection", "status"])
    record_event(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=stage,
        deal=stage.deal_id,
        details={"fields": sorted(values)},
    )
    return stage


def _transition(stage: HandoverStage, old: tuple[str, ...], **fields: Any) -> HandoverStage:
    """Race-safe transition: one conditional UPDATE whose row count says who won."""
    updated = HandoverStage.objects.filter(pk=stage.pk, status__in=old).update(**fields)
    if updated != 1:
        raise TransitionRefused(
            _(
                "The stage has changed meanwhile (it is no longer {states}); reload the page."
            ).format(states=", ".join(str(StageStatus(s).label) for s in old))
        )
    stage.refresh_from_db()
    return stage


@transaction.atomic(durable=True)
def stage_submit(*, actor: Any, stage: HandoverStage) -> HandoverStage:
    """Submit for approval with the preview frozen: counts per tier and segment, exclusions."""
    preview = stage_preview(stage)
    if preview["total"] == 0:
        raise TransitionRefused(_("This selection hands over nobody."))
    stage = _transition(
        stage,
        (StageStatus.DRAFT, StageStatus.REJECTED),
        status=StageStatus.SUBMITTED,
        submitted_by=actor,
        submitted_at=timezone.now(),
        preview=preview,
        exclusions=preview["exclusions"],
        total=preview["total"],
        rejection_reason="",
        rejected_by=None,
    )
    record_event(
        action=AuditAction.STAGE_SUBMITTED,
        actor=actor,
        obj=stage,
        deal=stage.deal_id,
        details={"total": preview["total"], "exclusions": preview["exclusions"]},
    )
    tell_stage(stage, Kind.STAGE_SUBMITTED, actor=actor)
    return stage


def approval_refusal(*, actor: Any, stage: HandoverStage) -> str | None:
    """Why ``actor`` may not approve ``stage`` now, or None. Pages show it before the form."""
    if not actor.has_role(Role.COMPLIANCE):
        return str(_("Only a compliance officer can approve a stage."))
    if stage.submitted_by_id == actor.pk:
        return str(_("You submitted this stage; another compliance officer must approve it."))
    if stage.status != StageStatus.SUBMITTED:
        return str(_("Only a submitted stage can be approved."))
    if stage.kind == StageKind.IDENTIFIED:
        deal = stage.deal
        if deal.needs_cross_border_assessment:
            return str(
                _(
                    "This deal is cross-border: document the transfer assessment before any "
                    "identified stage."
                )
            )
        if not deal.notice_window_closed:
            return str(
                _(
                    "Identified stages need the transfer notices sent and their objection "
                    "window closed."
                )
            )
        from .notices import identified_stage_refusal

        return identified_stage_refusal(stage)
    return None


def identified_stage_wait(stage: HandoverStage) -> str | None:
    """What an identified stage still waits for before anyone can approve it (the notices,
    their objection window), in words for its planner; None when only the approval is
    missing. The planner may submit before, but is told, with the date where it is known."""
    if stage.kind != StageKind.IDENTIFIED or stage.status not in (
        StageStatus.DRAFT,
        StageStatus.SUBMITTED,
        StageStatus.REJECTED,
    ):
        return None
    deal = stage.deal
    if deal.needs_cross_border_assessment:
        return str(_("It cannot be approved until the cross-border transfer assessment is done."))
    if not deal.notices_sent_at or not deal.objection_window_closes_at:
        return str(
            _(
                "It cannot be approved yet: the transfer notices have not been sent, and their "
                "objection window must close first."
            )
        )
    if deal.objection_window_closes_at > timezone.now():
        return str(
            _("It can be approved from {date}, when the customers' objection window closes.")
        ).format(
            date=date_format(timezone.localtime(deal.objection_window_closes_at), "DATETIME_FORMAT")
        )
    return None


@transaction.atomic(durable=True)
def stage_approve(
    *, actor: Any, stage: HandoverStage, note: str, start: bool = True
) -> HandoverStage:
    """Four-eyes approval by a compliance officer who did not submit; the engine starts after
    commit. Two officers approving at once: one wins, the other is refused.

    ``start=False`` leaves the stage approved but not enqueued (the demo shows one); the
    sweeper starts it later anyway, as it would after a lost message.
    """
    if not note.strip():
        raise ValidationError({"note": _("An approval needs a note.")})
    stage = HandoverStage.objects.select_related("deal").get(pk=stage.pk)
    refusal = approval_refusal(actor=actor, stage=stage)
    if refusal:
        if not actor.has_role(Role.COMPLIANCE) or stage.submitted_by_id == actor.pk:
            raise PermissionDenied(refusal)
        raise TransitionRefused(refusal)
    now = timezone.now()
    stage = _transition(
        stage,
        (StageStatus.SUBMITTED,),
        status=StageStatus.APPROVED,
        approved_by=actor,
        approved_at=now,
        approval_note=note.strip(),
    )
    approval = _freeze_approval(stage=stage, actor=actor, at=now)
    record_event(
        action=AuditAction.STAGE_APPROVED,
        actor=actor,
        obj=stage,
        deal=stage.deal_id,
        details={
            "kind": stage.kind,
            "total": stage.total,
            "approval": approval.pk,
            "tiers": list(approval.tier_scope),
            "customers": approval.customers,
        },
    )
    tell_stage(stage, Kind.STAGE_APPROVED, actor=actor)
    stage_id = stage.pk
    if start:
        transaction.on_commit(lambda: enqueue_stage(stage_id))
    return stage


def _freeze_approval(*, stage: HandoverStage, actor: Any, at: Any) -> StageApproval:
    """Record the approval with what it approves: the stage's kind, tiers and selection, and
    its population (the eligible customers now, one ``INSERT … SELECT``), sealed. The engine
    runs the stage only while these still match (``engine.run_refusal``), and hands over only
    these customers. Refuses (rolling the approval back) a population that grew since the
    preview the officer reviewed, and, for an identified stage, one with anyone untold."""
    approval = StageApproval.objects.create(
        stage=stage,
        requested_by_id=stage.submitted_by_id,
        approved_by=actor,
        approved_at=at,
        kind=stage.kind,
        tier_scope=list(stage.tier_scope),
        selection=dict(stage.selection or {}),
        customers=0,
    )
    sql, params = eligible(stage_selection(stage)).order_by().values("pk").query.sql_with_params()
    # The table is the model's own name and the subquery the ORM's SQL: never input.
    insert = (
        "INSERT INTO {table} (approval_id, customer_id) SELECT %s, frozen.* FROM ({sql}) frozen"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            insert.format(table=ApprovedCustomer._meta.db_table, sql=sql), [approval.pk, *params]
        )
        if connection.vendor == "postgresql":
            # Statistics now, not when autovacuum gets round to it: the engine usually runs
            # right after approval, and without them the planner joins the approved customers
            # by a nested loop, one index probe per customer (four times slower at 30,000). ANALYZE
            # samples a bounded number of rows whatever the table's size, and counts this
            # transaction's own rows.
            cursor.execute("ANALYZE " + connection.ops.quote_name(ApprovedCustomer._meta.db_table))
    approval.customers = approved_members(approval).count()
    if approval.customers > stage.total:
        raise TransitionRefused(
            _(
                "Customers joined this stage's selection after it was submitted ({then} then, "
                "{now} now): reject it so that it is submitted again with its new preview."
            ).format(then=stage.total, now=approval.customers)
        )
    if stage.kind == StageKind.IDENTIFIED:
        from .notices import identified_stage_refusal

        refusal = identified_stage_refusal(stage, approved_population(stage, approval))
        if refusal:
            raise TransitionRefused(refusal)
    approval.seal = signing.seal(approval.scope())
    approval.save(update_fields=["customers", "seal"])
    return approval


@transaction.atomic(durable=True)
def stage_reject(*, actor: Any, stage: HandoverStage, reason: str) -> HandoverStage:
    """Send a submitted stage back with a reason; the planner may change and resubmit it."""
    if not actor.has_role(Role.COMPLIANCE):
        raise PermissionDenied(_("Only a compliance officer can reject a stage."))
    if not reason.strip():
        raise ValidationError({"reason": _("A rejection needs a reason.")})
    stage = _transition(
        stage,
        (StageStatus.SUBMITTED,),
        status=StageStatus.REJECTED,
        rejected_by=actor,
        rejection_reason=reason.strip(),
    )
    record_event(action=AuditAction.STAGE_REJECTED, actor=actor, obj=stage, deal=stage.deal_id)
    tell_stage(stage, Kind.STAGE_REJECTED, actor=actor)
    return stage


@transaction.atomic(durable=True)
def stage_cancel(*, actor: Any, stage: HandoverStage) -> HandoverStage:
    """Withdraw a stage that has not started moving data."""
    stage = _transition(
        stage,
        (StageStatus.DRAFT, StageStatus.SUBMITTED, StageStatus.APPROVED, StageStatus.REJECTED),
        status=StageStatus.CANCELLED,
    )
    record_event(action=AuditAction.STAGE_CANCELLED, actor=actor, obj=stage, deal=stage.deal_id)
    return stage


def enqueue_stage(stage_id: Any) -> bool:
    """Send the stage to the handover queue; a broker that is down or hung is logged, not
    raised, and given up on within ``ENQUEUE_TIMEOUT`` seconds (``jobs.enqueue``).

    The approval has committed by now, and the sweeper re-enqueues any approved stage that has
    not started, so a failed publish only delays the handover.
    """
    return jobs.enqueue("transfers.tasks.handover_run_stage", str(stage_id))
