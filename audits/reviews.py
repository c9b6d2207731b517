"""Access-review services: start a campaign, keep or revoke a grant, expire what nobody kept,
remind the reviewer. Views, tasks and commands call these; none holds rules of its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.contrib.contenttypes.fields import GenericForeignKey
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, models, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from guardian.models import UserObjectPermissionBase

from accounts.languages import user_language
from notifications.choices import Kind
from notifications.services import notify, told_before
from transferdesk.trail import AuditAction, record_event

from .models import (
    AccessReviewCampaign,
    AccessReviewItem,
    AccessReviewReminder,
    CampaignStatus,
    ReviewDecision,
)

#: Reason written into REVOKE events for grants nobody kept before the deadline.
EXPIRED_REASON = "expired in review"
#: How long before the deadline the reviewer starts getting (daily) reminders.
REMIND_BEFORE = timedelta(days=3)
DEAL_LABEL = "transfers.transferdeal"


def grant_models() -> list[type[UserObjectPermissionBase]]:
    """Every concrete guardian user-permission model: the direct-FK ones of each app and
    guardian's own generic table, found by class so a new permission model is reviewed without
    anyone remembering to list it here."""
    return [
        model
        for model in apps.get_models()
        if issubclass(model, UserObjectPermissionBase) and not model._meta.abstract
    ]


def _target(grant: Any) -> tuple[str, str, models.Model | None]:
    """(object type, object id, object) of a grant row, direct-FK or generic."""
    field = type(grant)._meta.get_field("content_object")
    if isinstance(field, GenericForeignKey):
        ct = grant.content_type
        return f"{ct.app_label}.{ct.model}", str(grant.object_pk), grant.content_object
    return (
        field.related_model._meta.label_lower,
        str(grant.content_object_id),
        grant.content_object,
    )


def _label(obj: models.Model | None, object_type: str, object_id: str) -> str:
    if obj is None:
        return f"{object_type} {object_id}"
    reference = getattr(obj, "reference", None)
    return str(reference) if reference else str(obj)[:255]


def current_grants() -> Iterator[dict[str, Any]]:
    """Every standing user object permission, as snapshot rows for a campaign."""
    for model in grant_models():
        rows = model.objects.select_related("user", "permission").order_by("pk")
        # Each concrete subclass defines content_object (a foreign key, or guardian's generic
        # one); the abstract base the type checker sees does not.
        field = model._meta.get_field("content_object")  # type: ignore[misc]
        if not isinstance(field, GenericForeignKey):
            rows = rows.select_related("content_object")  # type: ignore[misc]
        for grant in rows.iterator(chunk_size=500):
            object_type, object_id, obj = _target(grant)
            yield {
                "user": grant.user,
                "grant_model": model._meta.label_lower,
                "grant_id": grant.pk,
                "permission": grant.permission.codename,
                "object_type": object_type,
                "object_id": object_id,
                "object_label": _label(obj, object_type, object_id),
                "deal_ref": object_id if object_type == DEAL_LABEL else "",
            }


@transaction.atomic(durable=True)
def campaign_start(
    *, actor: Any, name: str, deadline: datetime, reviewer: Any = None, scope: str = "all"
) -> AccessReviewCampaign:
    """Open a campaign over every standing grant (scope "all"), snapshotted now."""
    if deadline <= timezone.now():
        raise ValidationError(_("The deadline must be in the future."))
    campaign = AccessReviewCampaign(
        name=name.strip(),
        scope=scope,
        deadline=deadline,
        reviewer=reviewer or actor,
        created_by=actor,
    )
    campaign.full_clean()
    campaign.save()
    items = [AccessReviewItem(campaign=campaign, **row) for row in current_grants()]
    AccessReviewItem.objects.bulk_create(items, batch_size=500)
    record_event(
        action=AuditAction.ACCESS_REVIEW_DECISION,
        actor=actor,
        obj=campaign,
        details={"step": "started", "grants": len(items), "deadline": deadline.isoformat()},
    )
    _tell_reviewer(campaign, Kind.REVIEW_STARTED, actor=actor)
    return campaign


def _tell_reviewer(campaign: AccessReviewCampaign, kind: Kind, *, actor: Any = None) -> None:
    """The reviewer is told the campaign started (unless they started it) or is ending. The
    ending's e-mail is the daily reminder below, so its notification sends none."""
    notify(
        recipients=[campaign.reviewer],
        kind=kind,
        url=reverse("audits:review_detail", args=[campaign.pk]),
        params={"review": campaign.name, "due": campaign.deadline.date().isoformat()},
        actor=actor,
        email=kind != Kind.REVIEW_ENDING,
    )


def _remove_grant(item: AccessReviewItem) -> bool:
    """Delete the reviewed permission row; False if it was already gone."""
    model = apps.get_model(item.grant_model)
    deleted, _per_model = model.objects.filter(pk=item.grant_id).delete()
    return bool(deleted)


def _revoke_event(item: AccessReviewItem, *, actor: Any, reason_code: str, removed: bool) -> None:
    record_event(
        action=AuditAction.REVOKE,
        actor=actor,
        object_type=item.object_type,
        object_id=item.object_id,
        deal=item.deal_ref or None,
        details={
            "permission": item.permission,
            "user": item.user_id,
            "campaign": item.campaign_id,
            "review_item": item.pk,
            "reason": reason_code,
            "removed": removed,
        },
    )


@transaction.atomic(durable=True)
def review_item_decide(
    *, actor: Any, item: AccessReviewItem, decision: str, reason: str
) -> AccessReviewItem:
    """Keep or revoke one grant. A revocation deletes the guardian permission at once.

    Race-safe: only a pending item of an open campaign changes (conditional update), so two
    reviewers deciding the same item, or the expiry sweep, cannot both act on it. The reason is
    kept on the item (it is the reviewer's free text); the events carry ids and codes only.
    """
    if decision not in (ReviewDecision.KEEP, ReviewDecision.REVOKE):
        raise ValidationError(_("Choose keep or revoke."))
    reason = reason.strip()
    if not reason:
        raise ValidationError(_("Give a reason for the decision."))
    if item.user_id == getattr(actor, "pk", None):
        # Four eyes, as for stages: nobody confirms their own access.
        raise ValidationError(
            _("You cannot review your own permission: another compliance officer decides it.")
        )
    now = timezone.now()
    changed = AccessReviewItem.objects.filter(
        pk=item.pk, decision=ReviewDecision.PENDING, campaign__status=CampaignStatus.OPEN
    ).update(decision=decision, reason=reason, decided_by=actor, decided_at=now)
    if changed != 1:
        raise ValidationError(_("This grant was already decided or the campaign is closed."))
    item.refresh_from_db()
    removed = False
    if decision == ReviewDecision.REVOKE:
        removed = _remove_grant(item)
        _revoke_event(item, actor=actor, reason_code="revoked in review", removed=removed)
    record_event(
        action=AuditAction.ACCESS_REVIEW_DECISION,
        actor=actor,
        obj=item,
        deal=item.deal_ref or None,
        details={
            "campaign": item.campaign_id,
            "decision": str(decision),
            "permission": item.permission,
            "user": item.user_id,
            "object_type": item.object_type,
            "object_id": item.object_id,
        },
    )
    return item


def campaign_expire_due(*, now: datetime | None = None) -> int:
    """Close every open campaign whose deadline has passed, revoking the grants nobody kept.

    Called by the beat task. Each campaign is closed in its own transaction, so one failure
    does not hold back the others; returns how many grants expired.
    """
    now = now or timezone.now()
    expired = 0
    due = AccessReviewCampaign.objects.filter(status=CampaignStatus.OPEN, deadline__lte=now)
    for campaign_id in due.values_list("pk", flat=True):
        expired += _campaign_expire(campaign_id=campaign_id, now=now)
    return expired


@transaction.atomic(durable=True)
def _campaign_expire(*, campaign_id: int, now: datetime) -> int:
    closed = AccessReviewCampaign.objects.filter(pk=campaign_id, status=CampaignStatus.OPEN).update(
        status=CampaignStatus.CLOSED, closed_at=now
    )
    if closed != 1:  # another sweep got there first
        return 0
    pending = AccessReviewItem.objects.filter(
        campaign_id=campaign_id, decision=ReviewDecision.PENDING
    ).order_by("pk")
    count = 0
    for item in pending.iterator(chunk_size=500):
        AccessReviewItem.objects.filter(pk=item.pk).update(
            decision=ReviewDecision.EXPIRED, reason=EXPIRED_REASON, decided_at=now
        )
        removed = _remove_grant(item)
        _revoke_event(item, actor=None, reason_code=EXPIRED_REASON, removed=removed)
        count += 1
    record_event(
        action=AuditAction.ACCESS_REVIEW_DECISION,
        object_type="audits.accessreviewcampaign",
        object_id=campaign_id,
        details={"step": "closed", "expired": count},
    )
    return count


def campaign_send_reminders(*, now: datetime | None = None) -> int:
    """E-mail each reviewer of an open campaign due within ``REMIND_BEFORE`` that still has
    grants to review; at most once per day (the reminder row's unique constraint decides)."""
    now = now or timezone.now()
    sent = 0
    due = AccessReviewCampaign.objects.filter(
        status=CampaignStatus.OPEN, deadline__gt=now, deadline__lte=now + REMIND_BEFORE
    ).select_related("reviewer")
    for campaign in due:
        pending = campaign.items.filter(decision=ReviewDecision.PENDING).count()
        if not pending or not campaign.reviewer.email:
            continue
        try:
            with transaction.atomic():
                AccessReviewReminder.objects.create(
                    campaign=campaign,
                    recipient=campaign.reviewer,
                    sent_on=timezone.localdate(now),
                    pending=pending,
                    sent_at=now,
                )
                url = reverse("audits:review_detail", args=[campaign.pk])
                if not told_before(kind=Kind.REVIEW_ENDING, url=url):
                    _tell_reviewer(campaign, Kind.REVIEW_ENDING)
                # Inside the transaction: if the mail backend fails, the row goes too and
                # tomorrow's (or the retried) run sends it. In the reviewer's language.
                with translation.override(user_language(campaign.reviewer)):
                    send_mail(
                        _("Access review “{name}” is due {deadline}").format(
                            name=campaign.name, deadline=f"{campaign.deadline:%Y-%m-%d %H:%M}"
                        ),
                        _(
                            "{pending} grants are still waiting for your decision. Grants not "
                            "kept by the deadline are revoked automatically."
                        ).format(pending=pending),
                        None,
                        [campaign.reviewer.email],
                    )
        except IntegrityError:
            continue  # already reminded today
        sent += 1
    return sent
