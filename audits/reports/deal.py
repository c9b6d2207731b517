"""The deal audit report: everything a regulator asks about one transfer, with its timeline."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.utils.translation import gettext as _
from reportlab.lib.units import mm
from reportlab.platypus import Flowable

from transferdesk.pdf import para, title_page
from transferdesk.trail import AuditAction, AuditEvent
from transfers.models import DealAssignment, HandoverStage, NdaAcceptance, StageManifest

from .common import (
    BuildContext,
    ReportParams,
    event_table,
    local,
    page_break,
    resolve_deal,
    section,
    tier_names,
    within,
)


def _user(user: Any) -> str:
    if user is None:
        return ""
    name = user.get_full_name()
    return f"{name} ({user.get_username()})" if name else user.get_username()


def title(params: ReportParams) -> str:
    return _("Deal audit report {ref}").format(ref=params.deal)


def build(params: ReportParams, ctx: BuildContext) -> Iterator[Flowable]:
    deal = resolve_deal(params.deal)
    events = within(AuditEvent.objects.filter(deal_ref=str(deal.pk)), params)
    ctx.totals["events"] = events.count()
    yield from title_page(
        _("Deal audit report"),
        _("{ref} · {title}").format(ref=deal.reference, title=deal.title),
        [
            (_("Deal"), f"{deal.reference} · {deal.title}"),
            (_("Seller"), deal.seller.legal_name),
            (_("Buyer"), deal.buyer.legal_name),
            (_("Status"), deal.get_status_display()),
            (_("Purposes"), deal.purposes),
            (_("Legal basis"), deal.legal_basis),
            (_("Period"), params.period_label()),
            (_("Events in the period"), ctx.totals["events"]),
        ],
    )
    yield page_break()

    yield from section(
        _("Parties"),
        [_("Role"), _("Organisation"), _("Country"), _("Registration number")],
        [
            [
                _("Seller"),
                deal.seller.legal_name,
                deal.seller.country,
                deal.seller.registration_number,
            ],
            [_("Buyer"), deal.buyer.legal_name, deal.buyer.country, deal.buyer.registration_number],
        ],
        "",
        [30 * mm, 80 * mm, 20 * mm, 48 * mm],
    )
    assignments = (
        DealAssignment.objects.filter(deal=deal)
        .select_related("user", "assigned_by")
        .order_by("assigned_at")
    )
    yield from section(
        _("People assigned"),
        [_("Person"), _("Role"), _("Assigned by"), _("Assigned")],
        (
            [_user(a.user), a.get_role_display(), _user(a.assigned_by), local(a.assigned_at)]
            for a in assignments
        ),
        _("Nobody is assigned to this deal."),
        [60 * mm, 30 * mm, 50 * mm, 38 * mm],
    )
    acceptances = (
        NdaAcceptance.objects.filter(nda__deal=deal)
        .select_related("nda", "user")
        .order_by("accepted_at")
    )
    yield from section(
        _("NDA acceptances"),
        [_("Version"), _("Accepted by"), _("Accepted"), _("From"), _("SHA-256 of the text")],
        (
            [
                f"v{a.nda.version}",
                _user(a.user),
                local(a.accepted_at),
                a.ip or "",
                a.text_sha256[:16] + "…",
            ]
            for a in acceptances
        ),
        _("No NDA has been accepted for this deal."),
        [16 * mm, 52 * mm, 34 * mm, 28 * mm, 48 * mm],
    )
    stages = (
        HandoverStage.objects.filter(deal=deal)
        .select_related("submitted_by", "approved_by", "rejected_by")
        .order_by("order")
    )
    yield from section(
        _("Stages and approvals"),
        [
            _("Stage"),
            _("Layer"),
            _("Status"),
            _("Tiers"),
            _("Submitted"),
            _("Approved"),
            _("Items"),
        ],
        (
            [
                f"{s.order}. {s.name}",
                s.get_kind_display(),
                s.get_status_display(),
                tier_names(s.tier_scope),
                f"{_user(s.submitted_by)} {local(s.submitted_at)}".strip(),
                f"{_user(s.approved_by)} {local(s.approved_at)} {s.approval_note}".strip()
                or (
                    _("rejected: {reason}").format(reason=s.rejection_reason)
                    if s.rejection_reason
                    else ""
                ),
                f"{s.done}/{s.total}",
            ]
            for s in stages
        ),
        _("No stage has been planned for this deal."),
        [30 * mm, 26 * mm, 24 * mm, 28 * mm, 26 * mm, 28 * mm, 16 * mm],
    )
    manifests = (
        StageManifest.objects.filter(stage__deal=deal)
        .select_related("stage")
        .order_by("stage__order")
    )
    yield from section(
        _("Handover manifests"),
        [_("Stage"), _("Items"), _("Merkle root"), _("Chain head at delivery"), _("Signed")],
        (
            [
                f"{m.stage.order}. {m.stage.name}",
                str(m.item_count),
                m.merkle_root,
                f"{m.chain_head_seq}:{m.chain_head_mac[:16]}",
                local(m.created_at),
            ]
            for m in manifests
        ),
        _("No stage has been delivered yet, so there is no manifest."),
        [34 * mm, 14 * mm, 62 * mm, 38 * mm, 30 * mm],
    )
    yield from _questions(deal)
    yield from event_table(
        _("Exports"),
        events.filter(action=AuditAction.EXPORT),
        BuildContext(),
        _("Nothing was exported from this deal in the period."),
    )
    yield from event_table(
        _("Grants and revocations"),
        events.filter(action__in=[AuditAction.GRANT, AuditAction.REVOKE]),
        BuildContext(),
        _("No permission was granted or revoked in the period."),
    )
    yield page_break()
    yield from event_table(
        _("Timeline"), events, ctx, _("No event was recorded for this deal in the period.")
    )


def _questions(deal: Any) -> Iterator[Flowable]:
    """Buyer questions (the portal's model, when installed; otherwise the report says so)."""
    try:
        question = apps.get_model("transfers", "Question")
    except LookupError:
        yield para(_("Questions"), "h2", bold=True)
        yield para(_("This installation does not record buyer questions yet."), "muted")
        return
    rows = question.objects.filter(deal=deal).select_related("asked_by").order_by("asked_at")
    yield from section(
        _("Questions"),
        [_("Asked"), _("By"), _("Subject"), _("Status")],
        (
            [
                local(q.asked_at),
                _user(q.asked_by) if q.asked_by_id else q.asker,
                q.subject,
                q.get_status_display(),
            ]
            for q in rows.iterator(chunk_size=500)
        ),
        _("The buyer asked no questions."),
        [34 * mm, 50 * mm, 64 * mm, 30 * mm],
    )
