"""My work: everything that waits on one user, from every app, most urgent first.

Each role has its sources (``SOURCES``); a source is one query scoped to the user (through the
door, ``restrict``, or by the user's own rows) turned into ``WorkItem`` rows, so a page costs
the same few queries however much work waits. Each row links to the page where the work is
done. Lives in ``audits``, the top app, because it reads every app below it.

What a row shows: what waits, the object's name (a stage's name, a deal's reference, a
request's kind: never a customer's personal data), its due date and since when it waits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.choices import Role
from customers.models import ImportStatus, ImportUpload
from customers.services import import_upload_expires_at
from transferdesk.periodic import PeriodicRun, RunOutcome, scheduled_tasks
from transfers import portal_selectors
from transfers.choices import DealStatus, StageStatus
from transfers.models import HandoverStage, Nda, NdaAcceptance, TransferDeal
from transfers.notice_models import (
    CampaignKind,
    DataSubjectRequest,
    NoticeCampaign,
    RequestStatus,
)
from transfers.portal_models import FollowUpStatus, FollowUpTask, Question
from transfers.selectors import approval_queue, campaign_approval_queue

from .incidents import deadlines
from .models.incidents import Incident, IncidentStatus
from .models.reviews import AccessReviewCampaign, CampaignStatus, ReviewDecision
from .models.verification import ChainVerificationRun

#: Rows on one page of "my work", and on the landing page's short list.
PAGE_SIZE = 25
TOP_SIZE = 5


@dataclass(frozen=True)
class WorkItem:
    """One thing waiting on the user."""

    kind: str  # a stable code (tests, styling)
    what: str | Promise  # what waits, in words
    title: str  # the object: a stage's name, a deal's reference, a request's kind
    deal: str  # the deal's reference, or ""
    url: str  # the page where the work is done
    due_at: datetime | None = None
    since: datetime | None = None

    @property
    def overdue(self) -> bool:
        return self.due_at is not None and self.due_at < timezone.now()


_FAR = datetime.max.replace(tzinfo=UTC)


def urgency(item: WorkItem) -> tuple[bool, datetime, datetime]:
    """Overdue first, then by due date, then what has no due date, oldest first."""
    return (not item.overdue, item.due_at or _FAR, item.since or _FAR)


# --- broker --------------------------------------------------------------------------------

#: Stages a broker has to take up again: drafts to finish, rejected to edit, failed to redo.
_BROKER_STAGE_STATES = {
    StageStatus.DRAFT: _("Stage to finish and submit"),
    StageStatus.REJECTED: _("Stage rejected: edit and submit again"),
    StageStatus.FAILED: _("Stage failed: check and run again"),
}


def _broker_stages(user: Any) -> Iterable[WorkItem]:
    stages = (
        HandoverStage.objects.restrict(user, "plan")
        .filter(status__in=list(_BROKER_STAGE_STATES))
        .select_related("deal")
    )
    for stage in stages:
        yield WorkItem(
            kind=f"stage_{stage.status}",
            what=_BROKER_STAGE_STATES[StageStatus(stage.status)],
            title=stage.name,
            deal=stage.deal.reference,
            url=reverse("transfers:stage_detail", args=[stage.pk]),
            since=stage.submitted_at or stage.created_at,
        )


def _broker_questions(user: Any) -> Iterable[WorkItem]:
    questions = (
        Question.objects.restrict(user, "change")
        .filter(status=Question.Status.OPEN)
        .select_related("deal")
    )
    for question in questions:
        yield WorkItem(
            kind="question_open",
            what=_("Buyer question awaiting an answer"),
            title=question.subject,
            deal=question.deal.reference,
            url=reverse("portal:question", args=[question.pk]),
            since=question.asked_at,
        )


def _broker_imports(user: Any) -> Iterable[WorkItem]:
    uploads = (
        ImportUpload.objects.restrict(user, "import")
        .filter(status=ImportStatus.UPLOADED, content__isnull=False)
        .select_related("organization")
        .defer("content")
    )
    for upload in uploads:
        yield WorkItem(
            kind="import_mapping",
            what=_("Import waiting for its column mapping"),
            title=upload.organization.legal_name,
            deal="",
            url=reverse("customers:import_mapping", args=[upload.organization.slug, upload.pk]),
            due_at=import_upload_expires_at(upload),
            since=upload.created_at,
        )


def _broker_campaigns(user: Any) -> Iterable[WorkItem]:
    """Open deals whose customers have not been told yet (no transfer notice campaign at
    all): no identified stage can be approved before they are."""
    deals = (
        TransferDeal.objects.restrict(user, "plan")
        .exclude(status__in=[DealStatus.COMPLETED, DealStatus.CANCELLED])
        .exclude(
            Exists(NoticeCampaign.objects.filter(deal=OuterRef("pk"), kind=CampaignKind.TRANSFER))
        )
    )
    for deal in deals:
        yield WorkItem(
            kind="campaign_prepare",
            what=_("Transfer notices to prepare"),
            title=deal.title,
            deal=deal.reference,
            url=reverse("notices:campaign_list", args=[deal.pk]),
            since=deal.created_at,
        )


# --- compliance officer ----------------------------------------------------------------------


def _compliance_stages(user: Any) -> Iterable[WorkItem]:
    stages = approval_queue().restrict(user, "approve").exclude(submitted_by=user)
    for stage in stages:
        yield WorkItem(
            kind="stage_approve",
            what=_("Stage awaiting your approval"),
            title=stage.name,
            deal=stage.deal.reference,
            url=reverse("transfers:stage_approve", args=[stage.pk]),
            since=stage.submitted_at,
        )


def _compliance_campaigns(user: Any) -> Iterable[WorkItem]:
    campaigns = campaign_approval_queue().restrict(user, "view").exclude(prepared_by=user)
    for campaign in campaigns:
        if campaign.kind == CampaignKind.INCIDENT:
            yield WorkItem(
                kind="incident_notices_approve",
                what=_("Incident notices awaiting your approval"),
                title=campaign.incident.reference,
                deal="",
                url=reverse("lifecycle:incident_notices", args=[campaign.incident_id]),
                since=campaign.prepared_at,
            )
        else:
            yield WorkItem(
                kind="campaign_approve",
                what=_("Transfer notices awaiting your approval"),
                title=campaign.deal.title,
                deal=campaign.deal.reference,
                url=reverse("notices:campaign_detail", args=[campaign.pk]),
                since=campaign.prepared_at,
            )


def _compliance_requests(user: Any) -> Iterable[WorkItem]:
    requests = (
        DataSubjectRequest.objects.restrict(user, "view")
        .filter(status__in=[RequestStatus.OPEN, RequestStatus.WAITING])
        .filter(Q(assignee=user) | Q(assignee__isnull=True))
        .select_related("deal")
        .defer("requested_value", "message")  # what the customer wrote is not shown here
    )
    for request in requests:
        yield WorkItem(
            kind="request_assigned" if request.assignee_id else "request_unassigned",
            what=(
                _("Data-subject request assigned to you")
                if request.assignee_id
                else _("Data-subject request nobody has taken")
            ),
            title=str(request.get_kind_display()),
            deal=request.deal.reference,
            url=reverse("requests:request_detail", args=[request.pk]),
            due_at=request.due_at,
            since=request.received_at,
        )


def _followups_per_deal(
    tasks: QuerySet[FollowUpTask], *, kind: str, what: str | Promise, url: Callable[[Any], str]
) -> Iterable[WorkItem]:
    """One row per deal, not per task: an erasure makes a task for every record handed over,
    so a row per task would grow with the customer book. Due: the deal's earliest deadline."""
    groups = (
        tasks.order_by()
        .values("deal_id", "deal__reference")
        .annotate(count=Count("pk"), due=Min("due_at"), since=Min("created_at"))
    )
    for group in groups:
        count = group["count"]
        yield WorkItem(
            kind=kind,
            what=what,
            title=ngettext("%(counter)s record", "%(counter)s records", count) % {"counter": count},
            deal=group["deal__reference"],
            url=url(group["deal_id"]),
            due_at=group["due"],
            since=group["since"],
        )


def _compliance_followups(user: Any) -> Iterable[WorkItem]:
    return _followups_per_deal(
        portal_selectors.overdue_tasks(user),
        kind="followup_overdue",
        what=_("Buyer follow-up tasks past their deadline"),
        url=lambda deal_id: reverse("portal:overdue"),
    )


def _compliance_reviews(user: Any) -> Iterable[WorkItem]:
    campaigns = AccessReviewCampaign.objects.filter(
        status=CampaignStatus.OPEN, reviewer=user
    ).annotate(pending=Count("items", filter=Q(items__decision=ReviewDecision.PENDING)))
    for campaign in campaigns:
        if campaign.pending:
            yield WorkItem(
                kind="access_review",
                what=_("Access review to finish"),
                title=campaign.name,
                deal="",
                url=reverse("audits:review_detail", args=[campaign.pk]),
                due_at=campaign.deadline,
                since=campaign.created_at,
            )


def _compliance_incidents(user: Any) -> Iterable[WorkItem]:
    incidents = Incident.objects.filter(status__in=[IncidentStatus.OPEN, IncidentStatus.CONTAINED])
    for incident in incidents:
        running = [d for d in deadlines(incident) if d.done_at is None]
        if running:
            yield WorkItem(
                kind="incident_clock",
                what=_("Incident: notification clock running"),
                title=incident.reference,
                deal="",
                url=reverse("lifecycle:incident_detail", args=[incident.pk]),
                due_at=min(d.due for d in running),
                since=incident.detected_at,
            )


# --- buyer user ------------------------------------------------------------------------------


def _buyer_ndas(user: Any) -> Iterable[WorkItem]:
    latest = Nda.objects.filter(deal=OuterRef("pk")).order_by("-version")
    deals = (
        TransferDeal.objects.restrict(user, "portal")
        .exclude(status=DealStatus.CANCELLED)
        .annotate(nda_id=Subquery(latest.values("pk")[:1]))
        .annotate(nda_published=Subquery(latest.values("published_at")[:1]))
        .filter(nda_id__isnull=False)
        .exclude(Exists(NdaAcceptance.objects.filter(nda_id=OuterRef("nda_id"), user=user)))
    )
    for deal in deals:
        yield WorkItem(
            kind="nda_accept",
            what=_("Confidentiality agreement to accept"),
            title=deal.title,
            deal=deal.reference,
            url=reverse("portal:nda", args=[deal.pk]),
            since=deal.nda_published,  # type: ignore[attr-defined]
        )


def _buyer_receipts(user: Any) -> Iterable[WorkItem]:
    stages = (
        HandoverStage.objects.restrict(user, "portal")
        .filter(status=StageStatus.DELIVERED, acknowledgement__isnull=True)
        .select_related("deal")
    )
    for stage in stages:
        yield WorkItem(
            kind="receipt_acknowledge",
            what=_("Receipt to acknowledge"),
            title=stage.name,
            deal=stage.deal.reference,
            url=reverse("portal:acknowledge", args=[stage.pk]),
            since=stage.delivered_at,
        )


def _buyer_followups(user: Any) -> Iterable[WorkItem]:
    return _followups_per_deal(
        FollowUpTask.objects.restrict(user, "portal").filter(status=FollowUpStatus.OPEN),
        kind="followup_due",
        what=_("Follow-up tasks to carry out and attest"),
        url=lambda deal_id: reverse("portal:tasks", args=[deal_id]),
    )


def _buyer_answers(user: Any) -> Iterable[WorkItem]:
    questions = (
        Question.objects.restrict(user, "portal")
        .filter(
            asked_by=user,
            answers__seen_at__isnull=True,
            answers__from_buyer=False,
        )
        .select_related("deal")
    )
    for question in questions:
        yield WorkItem(
            kind="question_answered",
            what=_("Your question was answered"),
            title=question.subject,
            deal=question.deal.reference,
            url=reverse("portal:question", args=[question.pk]),
            since=question.asked_at,
        )


# --- administrator ---------------------------------------------------------------------------


def _admin_periodic(user: Any) -> Iterable[WorkItem]:
    latest = PeriodicRun.objects.filter(task=OuterRef("task")).order_by("-started_at")
    runs = PeriodicRun.objects.filter(
        task__in=scheduled_tasks(), pk=Subquery(latest.values("pk")[:1]), outcome=RunOutcome.FAILED
    )
    for run in runs:
        yield WorkItem(
            kind="periodic_failed",
            what=_("Periodic job failed on its last run"),
            title=run.label,
            deal="",
            url=reverse("periodic_jobs"),
            since=run.finished_at or run.started_at,
        )


def _admin_chain(user: Any) -> Iterable[WorkItem]:
    from .models.backups import RunStatus

    last = ChainVerificationRun.objects.exclude(status=RunStatus.RUNNING).first()
    if last is not None and last.status == RunStatus.FAILED:
        yield WorkItem(
            kind="chain_failed",
            what=_("Audit chain verification failed"),
            title=_("first bad event {seq}").format(seq=last.first_bad_seq or "?"),
            deal="",
            # Administrators see the verification job's runs (the chain pages are compliance's).
            url=reverse("audits:chain_run", args=[last.pk])
            if user.has_role(Role.COMPLIANCE)
            else reverse("periodic_jobs"),
            since=last.finished_at or last.started_at,
        )


def _admin_lockouts(user: Any) -> Iterable[WorkItem]:
    from axes.models import AccessAttempt

    cooloff: timedelta = settings.AXES_COOLOFF_TIME
    attempts = AccessAttempt.objects.filter(
        failures_since_start__gte=settings.AXES_FAILURE_LIMIT,
        attempt_time__gte=timezone.now() - cooloff,
    ).only("pk", "username", "attempt_time")
    for attempt in attempts:
        yield WorkItem(
            kind="account_locked",
            what=_("Account locked out after failed sign-ins"),
            title=attempt.username or "",
            deal="",
            url=reverse("admin:axes_accessattempt_changelist"),
            due_at=None,
            since=attempt.attempt_time,
        )


Source = Callable[[Any], Iterable[WorkItem]]

#: What waits on each role. Administrators are staff users (the Django admin's operators).
SOURCES: dict[str, list[Source]] = {
    Role.BROKER.value: [_broker_stages, _broker_questions, _broker_imports, _broker_campaigns],
    Role.COMPLIANCE.value: [
        _compliance_stages,
        _compliance_campaigns,
        _compliance_requests,
        _compliance_followups,
        _compliance_reviews,
        _compliance_incidents,
        _admin_chain,
    ],
    Role.BUYER.value: [_buyer_ndas, _buyer_receipts, _buyer_followups, _buyer_answers],
    "admin": [_admin_periodic, _admin_chain, _admin_lockouts],
}


def roles_of(user: Any) -> list[str]:
    """The roles whose work ``user`` sees: their roles, and "admin" for staff."""
    roles = [r.value for r in (Role.COMPLIANCE, Role.BROKER, Role.BUYER) if user.has_role(r)]
    if user.is_active and user.is_staff:
        roles.append("admin")
    return roles


def my_work(user: Any) -> list[WorkItem]:
    """Everything waiting on ``user``, most urgent first (``urgency``)."""
    sources: list[Source] = []
    for role in roles_of(user):
        sources += [s for s in SOURCES[role] if s not in sources]
    items = [item for source in sources for item in source(user)]
    return sorted(items, key=urgency)
