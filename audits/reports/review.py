"""The access-review report: what a campaign reviewed, what was kept, revoked and expired, and
the events that prove each revocation."""

from __future__ import annotations

from collections.abc import Iterator

from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.utils.translation import gettext as _
from reportlab.lib.units import mm
from reportlab.platypus import Flowable

from transferdesk.pdf import title_page
from transferdesk.trail import AuditAction, AuditEvent

from ..labels import permission_label
from ..models import AccessReviewCampaign, AccessReviewItem, ReviewDecision
from .common import CHUNK, BuildContext, ReportParams, event_table, local, page_break, section


def title(params: ReportParams) -> str:
    return _("Access-review report")


def _campaign(params: ReportParams) -> AccessReviewCampaign:
    campaign = (
        AccessReviewCampaign.objects.select_related("reviewer", "created_by")
        .filter(pk=params.campaign)
        .first()
        if params.campaign
        else None
    )
    if campaign is None:
        raise ValidationError(_("There is no such access-review campaign."))
    return campaign


def build(params: ReportParams, ctx: BuildContext) -> Iterator[Flowable]:
    campaign = _campaign(params)
    items = AccessReviewItem.objects.filter(campaign=campaign)
    counts = dict(
        items.values_list("decision").annotate(n=Count("pk")).values_list("decision", "n")
    )
    ctx.totals["events"] = sum(counts.values())
    yield from title_page(
        _("Access-review report"),
        campaign.name,
        [
            (_("Campaign"), campaign.name),
            (_("Started"), f"{local(campaign.created_at)} · {campaign.created_by.get_username()}"),
            (_("Reviewer"), campaign.reviewer.get_username()),
            (_("Deadline"), local(campaign.deadline)),
            (_("Status"), campaign.get_status_display()),
            (_("Grants reviewed"), ctx.totals["events"]),
            *[(str(d.label), counts.get(d.value, 0)) for d in ReviewDecision],
        ],
    )
    yield page_break()
    rows = (
        items.select_related("user", "decided_by")
        .order_by("object_type", "object_label", "user__username", "permission")
        .iterator(chunk_size=CHUNK)
    )
    yield from section(
        _("Grants and decisions"),
        [_("User"), _("Object"), _("Permission"), _("Decision"), _("Reason"), _("Decided")],
        (
            [
                i.user.get_username(),
                i.object_label,
                permission_label(i.permission, i.object_type),
                i.get_decision_display(),
                i.reason,
                f"{i.decided_by.get_username() if i.decided_by else _('system')} "
                f"{local(i.decided_at)}"
                if i.decided_at
                else "",
            ]
            for i in rows
        ),
        _("There were no grants to review."),
        [24 * mm, 34 * mm, 30 * mm, 22 * mm, 40 * mm, 28 * mm],
    )
    events = AuditEvent.objects.filter(
        Q(action=AuditAction.REVOKE, details__campaign=campaign.pk)
        | Q(action=AuditAction.ACCESS_REVIEW_DECISION, details__campaign=campaign.pk)
        | Q(object_type="audits.accessreviewcampaign", object_id=str(campaign.pk))
    )
    yield from event_table(
        _("Events in the audit chain"), events, ctx, _("No event was recorded for this campaign.")
    )
