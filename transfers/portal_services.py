"""Every write of the buyer portal: one function per use case, each with its audit event.

Follow-up tasks (GDPR art. 19) are also created from outside the portal: the customer vault
calls ``followups_for_customer_change`` inside its correction transaction, and the notices
issue calls ``followup_create`` when a customer objects after delivery. Both join the caller's
transaction (no ``durable``), so a task exists if and only if the change that caused it does.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audits.choices import AuditAction
from audits.services import record_event

from .choices import DealStatus, StageStatus
from .models import HandoverItem
from .portal_models import FollowUpKind, FollowUpReason, FollowUpStatus, FollowUpTask

#: Stages whose items are in the buyer's hands.
HANDED_OVER = (StageStatus.DELIVERED, StageStatus.ACKNOWLEDGED)
#: Default days a recipient has to act (GDPR art. 12(3): one month).
DEFAULT_FOLLOWUP_DAYS = 30


def followup_due_days() -> int:
    return int(getattr(settings, "PORTAL_FOLLOWUP_DUE_DAYS", DEFAULT_FOLLOWUP_DAYS))


_KIND_REASON = {
    FollowUpKind.UPDATE: FollowUpReason.CORRECTION,
    FollowUpKind.DELETE: FollowUpReason.ERASURE,
}


@transaction.atomic
def followup_create(
    *,
    item: HandoverItem,
    kind: str,
    reason: str,
    actor: Any = None,
    due_days: int | None = None,
) -> FollowUpTask:
    """Ask the recipient of ``item`` to update or delete it by a deadline.

    Idempotent per item and kind while a task is open: a second correction before the buyer
    acted keeps the one open task (and its earlier deadline), so the buyer is not flooded.
    ``reason`` is a ``FollowUpReason`` code ("correction", "erasure", "objection",
    "restriction"); the event carries codes and ids only, never the record.
    """
    kind = FollowUpKind(kind)
    reason = FollowUpReason(reason)
    stage = item.stage
    if stage.status not in HANDED_OVER:
        raise ValidationError(_("Only a record already handed over can get a follow-up task."))
    existing = (
        FollowUpTask.objects.select_for_update()
        .filter(item=item, kind=kind, status=FollowUpStatus.OPEN)
        .first()
    )
    if existing is not None:
        return existing
    days = followup_due_days() if due_days is None else due_days
    if days < 0:
        raise ValueError("due_days must not be negative")
    task = FollowUpTask(
        item=item,
        deal_id=stage.deal_id,
        kind=kind,
        reason=reason,
        due_at=timezone.now() + timedelta(days=days),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    task.full_clean()
    task.save(force_insert=True)
    record_event(
        action=AuditAction.CREATE,
        actor=actor,
        obj=task,
        deal=stage.deal_id,
        details={
            "item": item.pk,
            "stage": str(stage.pk),
            "kind": str(kind),
            "reason": str(reason),
            "due": task.due_at.isoformat(),
        },
    )
    return task


@transaction.atomic
def followups_for_customer_change(
    *,
    customer: Any,
    kind: str,
    actor: Any = None,
    fields: Iterable[str] | None = None,
    reason: str | None = None,
) -> list[FollowUpTask]:
    """One task per delivered item of ``customer`` (one per stage of each live deal).

    ``fields``: the fields the seller changed; a stage whose snapshot carries none of them
    needs no update (a correction of the core tier means nothing to a pseudonymised stage).
    Erasure (``kind="delete"``) always reaches every item. Cancelled deals are left out: their
    data is being destroyed as a whole, with its own certificate.
    """
    from .engine import snapshot_fields

    kind = FollowUpKind(kind)
    changed = set(fields) if fields is not None else None
    items = (
        HandoverItem.objects.filter(customer_id=customer.pk, stage__status__in=HANDED_OVER)
        .exclude(stage__deal__status=DealStatus.CANCELLED)
        .select_related("stage")
        .order_by("pk")
    )
    tasks = []
    for item in items:
        stage_fields = set(snapshot_fields(item.stage))
        if kind == FollowUpKind.UPDATE and changed is not None and not changed & stage_fields:
            continue
        tasks.append(
            followup_create(
                item=item,
                kind=kind,
                reason=reason or _KIND_REASON[kind],
                actor=actor,
            )
        )
    return tasks


@transaction.atomic(durable=True)
def followup_attest(*, task: FollowUpTask, actor: Any, statement: str) -> FollowUpTask:
    """Close a task with the buyer's attestation; race-safe (two clicks: one attestation)."""
    from .models import TransferDeal

    statement = statement.strip()
    if not statement:
        raise ValidationError({"attestation": _("Say what was done with the record.")})
    if not TransferDeal.objects.restrict(actor, "portal").filter(pk=task.deal_id).exists():
        raise PermissionDenied
    now = timezone.now()
    updated = FollowUpTask.objects.filter(pk=task.pk, status=FollowUpStatus.OPEN).update(
        status=FollowUpStatus.DONE, attested_by=actor, attested_at=now, attestation=statement
    )
    if updated != 1:
        raise ValidationError(_("This task was already completed."))
    task.refresh_from_db()
    record_event(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=task,
        deal=task.deal_id,
        details={
            "attested": True,
            "item": task.item_id,
            "kind": task.kind,
            "late": task.attested_at > task.due_at,
        },
    )
    return task
