"""Who of a deal is told about its events, and with which link (the notification centre's
"who is told what"). Called by the services inside the transaction of the event."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.urls import reverse

from notifications.choices import Kind
from notifications.models import Notification
from notifications.recipients import officers
from notifications.services import notify, told_before

from .choices import AssignmentRole
from .models import DealAssignment, HandoverStage


def deal_users(deal_id: Any, role: AssignmentRole) -> QuerySet:
    """The active users assigned to the deal in ``role``."""
    assigned = DealAssignment.objects.filter(deal_id=deal_id, role=role).values("user_id")
    return get_user_model()._default_manager.filter(pk__in=assigned, is_active=True)


def deal_officers(deal_id: Any) -> QuerySet:
    """The compliance officers assigned to the deal; a deal with none assigned has every
    officer as its officers (any officer may approve any deal's stages)."""
    assigned = deal_users(deal_id, AssignmentRole.COMPLIANCE)
    return assigned if assigned.exists() else officers()


def tell_stage(stage: HandoverStage, kind: Kind, *, actor: Any = None) -> None:
    """A stage was submitted (its officers, but not the submitter, are asked to approve it),
    or approved, rejected, failed or delivered (its brokers, and when delivered its buyers)."""
    params = {"stage": stage.name, "deal": stage.deal.reference}
    if kind == Kind.STAGE_SUBMITTED:
        notify(
            recipients=deal_officers(stage.deal_id).exclude(pk=stage.submitted_by_id),
            kind=kind,
            url=reverse("transfers:stage_approve", args=[stage.pk]),
            params=params,
            actor=actor,
        )
        return
    notify(
        recipients=deal_users(stage.deal_id, AssignmentRole.BROKER),
        kind=kind,
        url=reverse("transfers:stage_detail", args=[stage.pk]),
        params=params,
        actor=actor,
    )
    if kind == Kind.STAGE_DELIVERED:
        notify(
            recipients=deal_users(stage.deal_id, AssignmentRole.BUYER),
            kind=kind,
            url=reverse("portal:stage", args=[stage.pk]),
            params=params,
            actor=actor,
        )


def _reference(deal_id: Any) -> str:
    from .models import TransferDeal

    return TransferDeal.objects.filter(pk=deal_id).values_list("reference", flat=True).get()


def tell_question(question: Any, kind: Kind, *, actor: Any = None) -> None:
    """A buyer asked or replied (the deal's brokers are told), or a broker answered (the
    asker is). The link is the thread; the text stays in the portal."""
    if kind == Kind.QUESTION_ANSWERED and question.asked_by_id:
        recipients: Any = [question.asked_by]
    elif kind == Kind.QUESTION_ANSWERED:
        # Asked by the buyer's system (an API key): the deal's buyer users are told.
        recipients = deal_users(question.deal_id, AssignmentRole.BUYER)
    else:
        recipients = deal_users(question.deal_id, AssignmentRole.BROKER)
    notify(
        recipients=recipients,
        kind=kind,
        url=reverse("portal:question", args=[question.pk]),
        params={"question": f"#{question.pk}", "deal": _reference(question.deal_id)},
        actor=actor,
    )


def tell_followups(deal_id: Any, due: Any) -> None:
    """Follow-up tasks were created on a deal: its buyer users are told, once per deal."""
    notify(
        recipients=deal_users(deal_id, AssignmentRole.BUYER),
        kind=Kind.FOLLOWUP_CREATED,
        url=reverse("portal:tasks", args=[deal_id]),
        params={"deal": _reference(deal_id), "due": due.date().isoformat()},
    )


def tell_campaign_prepared(campaign: Any, *, actor: Any) -> None:
    """Notices were prepared: officers other than whoever prepared them are asked to approve
    them (a deal's notices go to its officers, an incident's to every officer)."""
    url = reverse("notices:campaign_detail", args=[campaign.pk])
    if campaign.incident_id:
        notify(
            recipients=officers(),
            kind=Kind.INCIDENT_NOTICES_PREPARED,
            url=url,
            params={"incident": campaign.incident.reference},
            actor=actor,
        )
    else:
        notify(
            recipients=deal_officers(campaign.deal_id),
            kind=Kind.CAMPAIGN_PREPARED,
            url=url,
            params={"deal": _reference(campaign.deal_id)},
            actor=actor,
        )


def tell_request(dsr: Any, kind: Kind, *, actor: Any = None, once: bool = False) -> bool:
    """A data-subject request was received or assigned, is due soon or overdue: its assignee
    is told, or every officer while nobody is assigned. The customer is never named: the
    request's number. ``once``: not again if this kind was told about this request before.
    Returns whether anyone was told."""
    url = reverse("requests:request_detail", args=[dsr.pk])
    if once and told_before(kind=kind, url=url):
        return False
    return bool(
        notify(
            recipients=[dsr.assignee] if dsr.assignee_id else officers(),
            kind=kind,
            url=url,
            params={"request": str(dsr.pk)[:8], "due": dsr.due_at.date().isoformat()},
            actor=actor,
        )
    )


def tell_followup_due(task: Any) -> bool:
    """A follow-up task nears its deadline: the buyer users of its deal are told, once."""
    if Notification.objects.filter(kind=Kind.FOLLOWUP_DUE_SOON, params__task=task.pk).exists():
        return False
    return bool(
        notify(
            recipients=deal_users(task.deal_id, AssignmentRole.BUYER),
            kind=Kind.FOLLOWUP_DUE_SOON,
            url=reverse("portal:tasks", args=[task.deal_id]),
            params={
                "deal": _reference(task.deal_id),
                "due": task.due_at.date().isoformat(),
                "task": task.pk,
            },
        )
    )
