"""Broker and compliance pages of transfer deals.

Every object is fetched through ``restrict(user, "view")`` (outside the scope: 404); an action
the user's deal permissions do not include is a 403. Views parse, call one service, redirect.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.choices import Role
from accounts.forms import InvitationForm
from accounts.mfa import step_up
from accounts.services import invitation_create
from transferdesk.http import AuthenticatedHttpRequest
from transferdesk.permissions import role_required
from transferdesk.trail import AuditEvent

from . import receipts, services
from .choices import AssignmentRole, StageStatus
from .forms import ApproveForm, AssignForm, DealForm, NdaForm, RejectForm, StageForm, VerifyForm
from .models import DealAssignment, HandoverStage, TransferDeal
from .selectors import approval_queue as approval_queue_qs
from .selectors import campaign_approval_queue, stage_preview

staff = role_required(Role.BROKER, Role.COMPLIANCE)
#: What a timeline event was about, in words (events store the model label).
OBJECT_LABELS = {
    "transfers.transferdeal": gettext_lazy("deal"),
    "transfers.handoverstage": gettext_lazy("stage"),
    "transfers.nda": gettext_lazy("NDA"),
    "transfers.dealassignment": gettext_lazy("assignment"),
}
PAGE_SIZE = 25


def _deal(request: HttpRequest, pk: Any, action: str = "view") -> TransferDeal:
    deal = get_object_or_404(
        TransferDeal.objects.restrict(request.user, "view").select_related("seller", "buyer"),
        pk=pk,
    )
    if action != "view" and not (
        TransferDeal.objects.restrict(request.user, action).filter(pk=deal.pk).exists()
    ):
        raise PermissionDenied
    return deal


def _stage(request: HttpRequest, pk: Any, action: str = "view") -> HandoverStage:
    stage = get_object_or_404(
        HandoverStage.objects.restrict(request.user, "view").select_related(
            "deal", "deal__seller", "deal__buyer", "submitted_by", "approved_by"
        ),
        pk=pk,
    )
    if action != "view" and not (
        TransferDeal.objects.restrict(request.user, action).filter(pk=stage.deal_id).exists()
    ):
        raise PermissionDenied
    return stage


def _errors(request: HttpRequest, exc: ValidationError) -> None:
    for message in exc.messages:
        messages.error(request, message)


@staff
def deal_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Deals the user is assigned to (compliance: every deal), with their stage counts."""
    deals = (
        TransferDeal.objects.restrict(request.user, "view")
        .select_related("seller", "buyer")
        .annotate(stage_count=Count("stages", distinct=True))
        .order_by("-created_at")
    )
    page = Paginator(deals, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "transfers/deal_list.html",
        {
            "deals": list(page.object_list),
            "page_obj": page,
            "can_create": request.user.has_role(Role.BROKER),
        },
    )


@role_required(Role.BROKER)
def deal_create(request: HttpRequest) -> HttpResponse:
    form = DealForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            deal = services.deal_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _errors(request, exc)
        else:
            messages.success(request, _("Deal created. Assign the buyer and publish the NDA."))
            return redirect("transfers:deal_detail", pk=deal.pk)
    return render(request, "transfers/deal_form.html", {"form": form, "deal": None})


@staff
def deal_edit(request: HttpRequest, pk: Any) -> HttpResponse:
    deal = _deal(request, pk, "change")
    form = DealForm(request.POST or None, instance=TransferDeal.objects.get(pk=deal.pk))
    if request.method == "POST" and form.is_valid():
        try:
            services.deal_update(
                actor=request.user,
                deal=deal,
                values={k: v for k, v in form.cleaned_data.items() if k in services.DEAL_FIELDS},
            )
        except ValidationError as exc:
            _errors(request, exc)
        else:
            messages.success(request, _("Deal updated."))
            return redirect("transfers:deal_detail", pk=deal.pk)
    return render(request, "transfers/deal_form.html", {"form": form, "deal": deal})


def _timeline(deal: TransferDeal) -> list[AuditEvent]:
    """The deal's last 30 events, each with the people it names as display names and the role
    as its label in the reader's language (events store usernames and role codes)."""
    from django.contrib.auth import get_user_model

    events = list(AuditEvent.objects.filter(deal_ref=str(deal.pk)).order_by("-seq")[:30])
    ids = {e.actor_id for e in events if e.actor_id}
    for event in events:
        details = event.details if isinstance(event.details, dict) else {}
        ids.update(v for k in ("to_user", "from_user") if isinstance(v := details.get(k), int))
    names: dict[Any, str] = {
        u.pk: u.display_name for u in get_user_model().objects.filter(pk__in=ids)
    }
    roles = dict(AssignmentRole.choices)
    for event in events:
        details = event.details if isinstance(event.details, dict) else {}
        event.actor_label = names.get(event.actor_id, event.actor_name)  # type: ignore[attr-defined]
        for key in ("to", "from"):
            user_id, username = details.get(f"{key}_user"), details.get(f"{key}_username")
            label = names.get(user_id, username) if username else ""
            setattr(event, f"{key}_label", label)
        role = details.get("role", "")
        event.role_label = roles.get(role, role)  # type: ignore[attr-defined]
    return events


@staff
def deal_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    deal = _deal(request, pk)
    user = request.user
    can = {
        action: TransferDeal.objects.restrict(user, action).filter(pk=deal.pk).exists()
        for action in ("change", "plan")
    }
    return render(
        request,
        "transfers/deal_detail.html",
        {
            "deal": deal,
            "assignments": deal.assignments.select_related("user", "assigned_by"),
            "nda": services.current_nda(deal),
            "stages": deal.stages.select_related("submitted_by", "approved_by"),
            "events": _timeline(deal),
            "can_change": can["change"],
            "can_plan": can["plan"],
            "object_labels": OBJECT_LABELS,
            "invite_form": InvitationForm() if can["change"] else None,
            "invitations": _pending_invitations(deal) if can["change"] else [],
        },
    )


def _pending_invitations(deal: TransferDeal) -> Any:
    return deal.invitations.filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).select_related("invited_by")


@require_POST
@staff
def deal_invite(request: AuthenticatedHttpRequest, pk: Any) -> HttpResponse:
    """The deal's broker invites a user of the buying organisation by e-mail; accepting the
    invitation creates their account and assigns them to the deal as its buyer."""
    deal = _deal(request, pk, "change")
    form = InvitationForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("transfers:deal_detail", pk=deal.pk)
    try:
        invitation_create(
            actor=request.user,
            email=form.cleaned_data["email"],
            role=Role.BUYER,
            organization=deal.buyer,
            deal=deal,
            language=form.cleaned_data["language"],
        )
    except ValidationError as exc:
        _errors(request, exc)
    else:
        messages.success(
            request, _("Invitation sent to {email}.").format(email=form.cleaned_data["email"])
        )
    return redirect("transfers:deal_detail", pk=deal.pk)


@require_POST
@staff
def deal_complete(request: HttpRequest, pk: Any) -> HttpResponse:
    deal = _deal(request, pk, "change")
    try:
        services.deal_complete(actor=request.user, deal=deal)
    except ValidationError as exc:
        _errors(request, exc)
    else:
        messages.success(request, _("Deal completed."))
    return redirect("transfers:deal_detail", pk=deal.pk)


@staff
def deal_assignments(request: HttpRequest, pk: Any) -> HttpResponse:
    deal = _deal(request, pk, "change")
    form = AssignForm(request.POST or None, deal=deal)
    if request.method == "POST" and form.is_valid():
        try:
            services.deal_assign(
                actor=request.user,
                deal=deal,
                user=form.cleaned_data["user"],
                role=form.cleaned_data["role"],
            )
        except ValidationError as exc:
            _errors(request, exc)
        else:
            messages.success(request, _("Assigned; the permissions apply at once."))
            return redirect("transfers:deal_assignments", pk=deal.pk)
    return render(
        request,
        "transfers/assignments.html",
        {"deal": deal, "form": form, "assignments": deal.assignments.select_related("user")},
    )


@require_POST
@staff
def assignment_remove(request: HttpRequest, pk: Any, assignment_pk: int) -> HttpResponse:
    deal = _deal(request, pk, "change")
    assignment = get_object_or_404(DealAssignment.objects.filter(deal=deal), pk=assignment_pk)
    services.deal_unassign(actor=request.user, assignment=assignment)
    messages.success(request, _("Assignment removed; the permissions are revoked."))
    return redirect("transfers:deal_assignments", pk=deal.pk)


@staff
def nda_publish(request: HttpRequest, pk: Any) -> HttpResponse:
    deal = _deal(request, pk, "change")
    current = services.current_nda(deal)
    form = NdaForm(request.POST or None, initial={"text": current.text if current else ""})
    if request.method == "POST" and form.is_valid():
        try:
            services.nda_publish(actor=request.user, deal=deal, text=form.cleaned_data["text"])
        except ValidationError as exc:
            _errors(request, exc)
        else:
            messages.success(request, _("New NDA version published; buyers must accept it."))
            return redirect("transfers:deal_detail", pk=deal.pk)
    return render(request, "transfers/nda_form.html", {"deal": deal, "form": form, "nda": current})


@staff
def stage_create(request: HttpRequest, pk: Any) -> HttpResponse:
    """The planner: choose kind, tiers and selection, preview the counts, then save a draft."""
    return _planner(request, _deal(request, pk, "plan"))


@staff
def stage_edit(request: HttpRequest, pk: Any) -> HttpResponse:
    """The planner on a draft or rejected stage: change it, preview, save (a rejected stage
    returns to draft, to be submitted again)."""
    stage = _stage(request, pk, "plan")
    if stage.status not in (StageStatus.DRAFT, StageStatus.REJECTED):
        messages.error(request, _("Only a draft or rejected stage can be changed."))
        return redirect("transfers:stage_detail", pk=stage.pk)
    return _planner(request, stage.deal, stage)


def _planner(request: HttpRequest, deal: TransferDeal, stage: HandoverStage | None = None) -> Any:
    initial = (
        {"name": stage.name, "kind": stage.kind, "tier_scope": stage.tier_scope, **stage.selection}
        if stage is not None
        else None
    )
    form = StageForm(request.POST or None, deal=deal, initial=initial)
    preview = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        draft = HandoverStage(
            deal=deal, kind=data["kind"], tier_scope=data["tier_scope"], selection=form.selection()
        )
        preview = stage_preview(draft)
        if "save" in request.POST:
            values = {
                "name": data["name"],
                "kind": data["kind"],
                "tier_scope": data["tier_scope"],
                "selection": form.selection(),
            }
            try:
                if stage is None:
                    stage = services.stage_create(actor=request.user, deal=deal, **values)
                else:
                    stage = services.stage_update(actor=request.user, stage=stage, values=values)
            except ValidationError as exc:
                _errors(request, exc)
            else:
                messages.success(request, _("Stage saved as a draft. Submit it for approval."))
                return redirect("transfers:stage_detail", pk=stage.pk)
    return render(
        request,
        "transfers/stage_planner.html",
        {"deal": deal, "form": form, "preview": preview, "stage": stage},
    )


@staff
def stage_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    stage = _stage(request, pk)
    user: Any = request.user
    can_plan = TransferDeal.objects.restrict(user, "plan").filter(pk=stage.deal_id).exists()
    preview = stage.preview or (
        stage_preview(stage) if stage.status in (StageStatus.DRAFT, StageStatus.REJECTED) else {}
    )
    refusal = services.approval_refusal(actor=user, stage=stage)
    wait = services.identified_stage_wait(stage)
    return render(
        request,
        "transfers/stage_detail.html",
        {
            "stage": stage,
            "deal": stage.deal,
            "preview": preview,
            "can_plan": can_plan,
            "refusal": refusal,
            # An officer who finds no approval button on a submitted stage is told why (she
            # submitted it herself, say), unless the wait below already says it.
            "officer_refusal": refusal
            if user.has_role(Role.COMPLIANCE) and stage.status == StageStatus.SUBMITTED and not wait
            else None,
            "wait": wait,
            "manifest": getattr(stage, "manifest", None) if hasattr(stage, "manifest") else None,
        },
    )


@staff
def stage_progress(request: HttpRequest, pk: Any) -> HttpResponse:
    """The polled progress bar (htmx swaps it in place until the stage stops moving).

    Once it has stopped, the poll reloads the whole page (``HX-Refresh``): the rest of it (the
    status, "waiting for a worker", the manifest, a failure's reason) was drawn while it moved.
    """
    stage = _stage(request, pk)
    response = render(request, "transfers/partials/stage_progress.html", {"stage": stage})
    if request.headers.get("HX-Request") and not stage.is_in_flight:
        response["HX-Refresh"] = "true"
    return response


@require_POST
@staff
def stage_submit(request: HttpRequest, pk: Any) -> HttpResponse:
    stage = _stage(request, pk, "plan")
    try:
        services.stage_submit(actor=request.user, stage=stage)
    except ValidationError as exc:
        _errors(request, exc)
    else:
        messages.success(request, _("Submitted for approval by a compliance officer."))
        wait = services.identified_stage_wait(stage)
        if wait:
            messages.warning(request, wait)
    return redirect("transfers:stage_detail", pk=stage.pk)


@require_POST
@staff
def stage_cancel(request: HttpRequest, pk: Any) -> HttpResponse:
    stage = _stage(request, pk, "plan")
    try:
        services.stage_cancel(actor=request.user, stage=stage)
    except ValidationError as exc:
        _errors(request, exc)
    else:
        messages.success(request, _("Stage cancelled."))
    return redirect("transfers:stage_detail", pk=stage.pk)


@role_required(Role.COMPLIANCE)
@step_up
def stage_approve(request: HttpRequest, pk: Any) -> HttpResponse:
    stage = _stage(request, pk, "approve")
    if stage.submitted_by_id == request.user.pk:
        raise PermissionDenied(_("You submitted this stage."))
    form = ApproveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.stage_approve(actor=request.user, stage=stage, note=form.cleaned_data["note"])
        except ValidationError as exc:
            _errors(request, exc)
        else:
            messages.success(request, _("Stage approved; the handover starts now."))
            return redirect("transfers:stage_detail", pk=stage.pk)
    return render(
        request,
        "transfers/stage_decide.html",
        {
            "stage": stage,
            "deal": stage.deal,
            "form": form,
            "approve": True,
            "refusal": services.approval_refusal(actor=request.user, stage=stage),
        },
    )


@role_required(Role.COMPLIANCE)
def stage_reject(request: HttpRequest, pk: Any) -> HttpResponse:
    stage = _stage(request, pk, "approve")
    form = RejectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.stage_reject(
                actor=request.user, stage=stage, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            _errors(request, exc)
        else:
            messages.success(request, _("Stage rejected; the planner sees your reason."))
            return redirect("transfers:approval_queue")
    return render(
        request,
        "transfers/stage_decide.html",
        {"stage": stage, "deal": stage.deal, "form": form, "approve": False, "refusal": None},
    )


@role_required(Role.COMPLIANCE)
def approval_queue(request: HttpRequest) -> HttpResponse:
    """Everything waiting for a four-eyes decision, oldest first: submitted stages, and the
    notice campaigns (of deals and of incidents) prepared by someone else."""
    stages = approval_queue_qs().restrict(request.user, "approve").order_by("submitted_at")
    page = Paginator(stages, PAGE_SIZE).get_page(request.GET.get("page"))
    campaigns = (
        campaign_approval_queue().restrict(request.user, "view").order_by("prepared_at", "pk")
    )
    campaign_page = Paginator(campaigns, PAGE_SIZE).get_page(request.GET.get("notices_page"))
    return render(
        request,
        "transfers/approval_queue.html",
        {
            "stages": list(page.object_list),
            "page_obj": page,
            "campaigns": list(campaign_page.object_list),
            "campaign_page": campaign_page,
        },
    )


def _delivered(request: HttpRequest, pk: Any) -> HandoverStage:
    stage = _stage(request, pk)
    if not hasattr(stage, "manifest"):
        from django.http import Http404

        raise Http404
    return stage


@staff
def stage_receipt(request: HttpRequest, pk: Any) -> HttpResponse:
    stage = _delivered(request, pk)
    pdf = receipts.receipt_pdf(stage, user=request.user)
    response = HttpResponse(pdf, content_type="application/pdf")
    name = f"receipt-{stage.deal.reference}-{stage.order}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@staff
def stage_manifest(request: HttpRequest, pk: Any) -> HttpResponse:
    stage = _delivered(request, pk)
    response = JsonResponse(
        receipts.manifest_bundle(stage), json_dumps_params={"ensure_ascii": False}
    )
    name = f"manifest-{stage.deal.reference}-{stage.order}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@staff
def verify_receipt(request: HttpRequest) -> HttpResponse:
    """Check an uploaded receipt bundle; stored items are compared only for stages the user
    may see (so the page reveals nothing about other deals)."""
    form = VerifyForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        try:
            bundle = json.loads(form.cleaned_data["file"].read().decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            form.add_error("file", _("This is not a JSON receipt bundle."))
        else:
            malformed = receipts.bundle_problem(bundle)
            if malformed:
                form.add_error("file", malformed)
                return render(request, "transfers/verify.html", {"form": form}, status=400)
            stage = receipts.stage_for_bundle(bundle)
            if stage is not None and not (
                HandoverStage.objects.restrict(request.user, "view").filter(pk=stage.pk).exists()
            ):
                stage = None
            result = receipts.verify_bundle(
                bundle,
                stage=stage,
                expected_fingerprint=form.cleaned_data["fingerprint"] or None,
            )
    return render(request, "transfers/verify.html", {"form": form, "result": result})
