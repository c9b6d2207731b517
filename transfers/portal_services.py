"""Every write of the buyer portal: one function per use case, each with its audit event.

Follow-up tasks (GDPR art. 19) are also created from outside the portal: the customer vault
sends ``customers.services.customer_corrected`` inside its correction transaction (answered
by ``followups_for_corrected_customer``, connected in ``TransfersConfig.ready``), and the notices
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
from django.db.models import Exists, OuterRef
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.services import customer_corrected
from notifications.choices import Kind
from transferdesk.principals import is_machine
from transferdesk.trail import AuditAction, record_event

from . import events
from .choices import DealStatus, StageStatus
from .models import HandoverItem
from .portal_models import (
    Answer,
    FollowUpKind,
    FollowUpReason,
    FollowUpStatus,
    FollowUpTask,
    PortalExport,
    Question,
    StageAcknowledgement,
)
from .recipients import tell_followup_due, tell_followups, tell_question

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
    now = timezone.now()
    task = FollowUpTask(
        item=item,
        deal_id=stage.deal_id,
        kind=kind,
        reason=reason,
        created_at=now,
        due_at=now + timedelta(days=days),
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
    tell_followups(task.deal_id, task.due_at)
    events.followup_created.send(
        sender=FollowUpTask, deal_id=task.deal_id, task_ids=[task.pk], count=1
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


@receiver(customer_corrected, dispatch_uid="transfers_followups_for_corrected_customer")
def followups_for_corrected_customer(
    sender: Any, customer: Any, actor: Any, fields: Iterable[str], **_: Any
) -> None:
    """A seller corrected ``fields`` of ``customer``: update tasks for the buyers who hold it."""
    followups_for_customer_change(customer=customer, kind="update", actor=actor, fields=fields)


def followups_for_erased_customers(*, customer_ids: list[Any], actor: Any = None) -> int:
    """Delete tasks for every handed-over item of many customers at once (a purge chunk).

    The bulk form of ``followups_for_customer_change(kind="delete")``: one INSERT per chunk,
    ``ON CONFLICT DO NOTHING`` against the one-open-task-per-item constraint, so a resumed or
    repeated purge never makes a second task. One CREATE event per deal names the count and
    the items, never a person. Joins the caller's transaction: the tasks exist if and only if
    the purge chunk committed. Returns how many tasks were created.
    """
    items = list(
        HandoverItem.objects.filter(customer_id__in=customer_ids, stage__status__in=HANDED_OVER)
        .exclude(stage__deal__status=DealStatus.CANCELLED)
        .exclude(
            Exists(
                FollowUpTask.objects.filter(
                    item_id=OuterRef("pk"), kind=FollowUpKind.DELETE, status=FollowUpStatus.OPEN
                )
            )
        )
        .values_list("pk", "stage__deal_id")
        .order_by("pk")
    )
    if not items:
        return 0
    now = timezone.now()
    due = now + timedelta(days=followup_due_days())
    creator = actor if getattr(actor, "is_authenticated", False) else None
    made = FollowUpTask.objects.bulk_create(
        [
            FollowUpTask(
                item_id=item_id, deal_id=deal_id, kind=FollowUpKind.DELETE,
                reason=FollowUpReason.ERASURE, created_at=now, due_at=due, created_by=creator,
            )
            for item_id, deal_id in items
        ],
        ignore_conflicts=True,
    )  # fmt: skip
    by_deal: dict[Any, list[int]] = {}
    for item_id, deal_id in items:
        by_deal.setdefault(deal_id, []).append(item_id)
    for deal_id, item_ids in by_deal.items():
        record_event(
            action=AuditAction.CREATE,
            actor=actor,
            object_type="transfers.followuptask",
            deal=deal_id,
            details={
                "items": item_ids,
                "kind": str(FollowUpKind.DELETE),
                "reason": str(FollowUpReason.ERASURE),
                "due": due.isoformat(),
            },
        )
        tell_followups(deal_id, due)
        events.followup_created.send(
            sender=FollowUpTask, deal_id=deal_id, task_ids=[], count=len(item_ids)
        )
    return len(made)


def followups_remind(*, lead: timedelta = timedelta(days=3)) -> int:
    """Beat task body: tell the buyers of each open follow-up task due within ``lead``, once
    per task. Returns how many tasks were told about."""
    now = timezone.now()
    told = 0
    for task in FollowUpTask.objects.filter(
        status=FollowUpStatus.OPEN, due_at__gte=now, due_at__lte=now + lead
    ).order_by("due_at"):
        with transaction.atomic():
            first = tell_followup_due(task)
            if first:
                events.followup_due.send(sender=FollowUpTask, task_id=task.pk, deal_id=task.deal_id)
            told += first
    return told


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
        status=FollowUpStatus.DONE, attested_at=now, attestation=statement, **_by(actor)
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
            "late": now > task.due_at,
        },
    )
    return task


def _by(actor: Any, user: str = "attested_by", key: str = "attested_by_key") -> dict[str, Any]:
    """Who did it, as the row records it: a person, or the buyer's system through its API key
    (a key is no user row; the trail names it by its prefix either way)."""
    if is_machine(actor):
        return {user: None, key: actor.key_prefix}
    return {user: actor}


# --- acknowledgement -------------------------------------------------------------------------


def _require_portal(actor: Any, deal_id: Any) -> None:
    from .models import TransferDeal

    if not TransferDeal.objects.restrict(actor, "portal").filter(pk=deal_id).exists():
        raise PermissionDenied


def normalise_root(value: str) -> str:
    """What people paste: spaces, line breaks, upper case, a ``sha256:`` prefix."""
    value = "".join(value.split()).lower()
    return value.removeprefix("sha256:")


class RootMismatch(ValidationError):
    """The typed root is not the signed manifest's: raised by ``stage_acknowledge`` after the
    refusal has been recorded in the audit trail."""


#: How much of a refused root the trail keeps: enough to tell which receipt was verified
#: instead (a root is a hash of the manifest, not personal data), not a whole value to copy.
REFUSED_ROOT_PREFIX = 16


def stage_acknowledge(*, stage: Any, actor: Any, merkle_root: str) -> StageAcknowledgement:
    """The buyer confirms receipt of exactly the stage whose manifest root they verified.

    A root that differs from the signed manifest's is refused (they verified something else,
    or nothing) and the refusal is audited: someone confirming a receipt they did not verify
    is security-relevant. The refusal's event is written in a transaction of its own, after
    the acknowledgement's has rolled back, so it survives the error the caller receives (an
    ``on_commit`` hook would be dropped with the rolled-back transaction).
    """
    try:
        return _stage_acknowledge(stage=stage, actor=actor, merkle_root=merkle_root)
    except RootMismatch:
        _record_refused_acknowledgement(stage=stage, actor=actor, merkle_root=merkle_root)
        raise


@transaction.atomic(durable=True)
def _record_refused_acknowledgement(*, stage: Any, actor: Any, merkle_root: str) -> None:
    record_event(
        action=AuditAction.ACKNOWLEDGE_REFUSED,
        actor=actor,
        obj=stage,
        deal=stage.deal_id,
        details={
            "stage": str(stage.pk),
            "root_prefix": normalise_root(merkle_root)[:REFUSED_ROOT_PREFIX],
        },
    )


@transaction.atomic(durable=True)
def _stage_acknowledge(*, stage: Any, actor: Any, merkle_root: str) -> StageAcknowledgement:
    """The acknowledgement itself; the transition is a conditional update, so two buyers
    acknowledging at once produce one acknowledgement and one clear refusal."""
    import hmac

    from .models import HandoverStage
    from .services import TransitionRefused

    _require_portal(actor, stage.deal_id)
    stage = HandoverStage.objects.select_related("manifest").get(pk=stage.pk)
    manifest = getattr(stage, "manifest", None)
    confirmed = normalise_root(merkle_root)
    if manifest is None:
        raise TransitionRefused(_("This stage has no signed manifest to acknowledge."))
    if not hmac.compare_digest(confirmed.encode(), manifest.merkle_root.encode()):
        raise RootMismatch(
            {
                "merkle_root": _(
                    "This root does not match the stage's signed manifest. Check that you "
                    "verified the receipt of this stage, then copy the root it printed."
                )
            }
        )
    updated = HandoverStage.objects.filter(pk=stage.pk, status=StageStatus.DELIVERED).update(
        status=StageStatus.ACKNOWLEDGED
    )
    if updated != 1:
        raise TransitionRefused(_("This stage has already been acknowledged."))
    ack = StageAcknowledgement(
        stage=stage, merkle_root=confirmed, **_by(actor, user="user", key="api_key")
    )
    ack.full_clean(exclude=["stage"])
    ack.save(force_insert=True)
    record_event(
        action=AuditAction.ACKNOWLEDGED,
        actor=actor,
        obj=stage,
        deal=stage.deal_id,
        details={"merkle_root": confirmed, "items": manifest.item_count},
    )
    return ack


# --- questions and answers -------------------------------------------------------------------


@transaction.atomic(durable=True)
def question_ask(
    *, actor: Any, stage: Any, subject: str, body: str, item: HandoverItem | None = None
) -> Question:
    """A buyer asks about a handed-over stage (or one of its items); the brokers of the deal
    see it in their queue. The event names the stage and item, never the text."""
    _require_portal(actor, stage.deal_id)
    if stage.status not in HANDED_OVER:
        raise ValidationError(_("Questions are about stages handed over to you."))
    if item is not None and item.stage_id != stage.pk:
        raise ValidationError(_("This record is not part of the stage."))
    question = Question(
        deal_id=stage.deal_id,
        stage=stage,
        item=item,
        **_by(actor, user="asked_by", key="asked_by_key"),
        subject=subject.strip(),
        body=body.strip(),
    )
    question.full_clean()
    question.save(force_insert=True)
    record_event(
        action=AuditAction.CREATE,
        actor=actor,
        obj=question,
        deal=stage.deal_id,
        details={"stage": str(stage.pk), "item": item.pk if item else None},
    )
    tell_question(question, Kind.QUESTION_ASKED, actor=actor)
    return question


@transaction.atomic(durable=True)
def question_answer(*, actor: Any, question: Question, body: str) -> Answer:
    """A broker of the deal answers; the asker is told (and e-mailed by their preference) and
    sees the answer marked as new in the portal until they open it."""
    from .models import TransferDeal

    if not TransferDeal.objects.restrict(actor, "change").filter(pk=question.deal_id).exists():
        raise PermissionDenied
    answer = Answer(question=question, author=actor, body=body.strip())
    answer.full_clean()
    answer.save(force_insert=True)
    Question.objects.filter(pk=question.pk).update(status=Question.Status.ANSWERED)
    record_event(
        action=AuditAction.CREATE,
        actor=actor,
        obj=answer,
        deal=question.deal_id,
        details={"question": question.pk},
    )
    tell_question(question, Kind.QUESTION_ANSWERED, actor=actor)
    return answer


@transaction.atomic(durable=True)
def question_follow_up(*, actor: Any, question: Question, body: str) -> Answer:
    """A buyer user of the deal adds a message to a thread (a detail, a further question).

    The thread goes back to "awaiting answer", so the brokers' queue shows it again; the
    asker's own message is not "new" to them. The status update takes the question's row
    lock, so a broker's answer and a follow-up posted at once leave the status of whichever
    committed last. The event names the thread, never the text.
    """
    _require_portal(actor, question.deal_id)
    now = timezone.now()
    message = Answer(
        question=question,
        author=actor,
        body=body.strip(),
        answered_at=now,
        from_buyer=True,
        seen_at=now if question.asked_by_id == actor.pk else None,
    )
    message.full_clean()
    message.save(force_insert=True)
    Question.objects.filter(pk=question.pk).update(status=Question.Status.OPEN)
    record_event(
        action=AuditAction.CREATE,
        actor=actor,
        obj=message,
        deal=question.deal_id,
        details={"question": question.pk, "from_buyer": True},
    )
    tell_question(question, Kind.QUESTION_REPLIED, actor=actor)
    return message


def answers_mark_seen(*, actor: Any, question: Question) -> int:
    """The asker opened the thread: its answers are no longer new. Not an audited change (the
    PORTAL_VIEW of the page records the reading)."""
    if question.asked_by_id != actor.pk:
        return 0
    return question.answers.filter(seen_at__isnull=True).update(seen_at=timezone.now())


# --- exports ---------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def export_create(*, actor: Any, stage: Any, fmt: str) -> PortalExport:
    """Register an export before its file is built: the id is the watermark, and the EXPORT
    event (with the item count) exists even if the download is interrupted."""
    from .portal_selectors import stage_items  # the selectors import this module

    _require_portal(actor, stage.deal_id)
    if stage.status not in HANDED_OVER:
        raise ValidationError(_("Only a stage handed over to you can be exported."))
    export = PortalExport(
        stage=stage,
        user=actor,
        format=PortalExport.Format(fmt),
        # What the file holds: a record withdrawn since delivery is not exported.
        item_count=stage_items(stage).count(),
    )
    export.save(force_insert=True)
    record_event(
        action=AuditAction.EXPORT,
        actor=actor,
        obj=export,
        deal=stage.deal_id,
        details={"stage": str(stage.pk), "format": fmt, "items": export.item_count},
    )
    return export
