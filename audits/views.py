"""Compliance pages: dashboard, event explorer and export, deal timelines, reports, access
reviews. Thin: parse, call a service or selector, render. Compliance officers only."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.choices import Role
from accounts.mfa import step_up
from transferdesk.permissions import role_required
from transferdesk.spreadsheets import neutralise
from transferdesk.trail import AuditAction, AuditEvent, record_event
from transferdesk.trail.chain import checkpoint_label
from transfers.models import TransferDeal

from . import dashboard as charts
from .forms import CampaignForm, DecisionForm, EventFilterForm, ReportForm
from .labels import detail_pairs, object_type_label
from .models import (
    AccessReviewCampaign,
    AccessReviewItem,
    ChainVerificationRun,
    ReportRun,
    ReviewDecision,
)
from .reports.common import ReportParams
from .reports.service import report_path, report_request
from .reviews import campaign_start, review_item_decide
from .verification import chain_verification_request, run_message

compliance_only = role_required(Role.COMPLIANCE)
PAGE_SIZE = 50


@require_GET
@compliance_only
def dashboard(request: HttpRequest) -> HttpResponse:
    """The compliance officer's landing page: activity, handovers, open work, chain, reviews."""
    return render(
        request,
        "audits/dashboard.html",
        {
            "activity": charts.events_per_day(),
            "handovers": charts.handover_progress(),
            "work": charts.open_work(),
            "chain": charts.chain_status(),
            "reviews": charts.reviews_summary(),
        },
    )


def _filtered(request: HttpRequest) -> tuple[EventFilterForm, Any]:
    form = EventFilterForm(request.GET or None)
    events: Any = AuditEvent.objects.all()
    if form.is_bound and form.is_valid():
        events = form.filter(events)
    elif form.is_bound:
        events = events.none()
    return form, events.order_by("-seq")


def _events_page(queryset: Any, number: str | None) -> Any:
    """One page of events, each with its details as (key, value) pairs for the template (a
    details key such as "items" would shadow the dict method in template lookups)."""
    page = Paginator(queryset, PAGE_SIZE).get_page(number)
    for event in page.object_list:
        event.detail_pairs = detail_pairs(event.details)
        event.object_type_label = object_type_label(event.object_type)
    return page


@require_GET
@compliance_only
def events(request: HttpRequest) -> HttpResponse:
    """The event explorer: filters on indexed columns, newest first, 50 a page (two queries
    whatever the page: the count and the page)."""
    form, queryset = _filtered(request)
    page = _events_page(queryset, request.GET.get("page"))
    return render(
        request,
        "audits/events.html",
        {
            "form": form,
            "page_obj": page,
            "filtered": form.is_bound,
            "export_query": request.GET.urlencode(),
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
@compliance_only  # type: ignore[arg-type]  # a streaming answer is not an HttpResponse subclass
@step_up  # type: ignore[arg-type]
def events_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered events as CSV, streamed, formulas neutralised. The export is itself an
    event, written before the first byte leaves so an interrupted download is still recorded."""
    form, queryset = _filtered(request)
    filters = {
        k: str(v)
        for k, v in (form.cleaned_data.items() if form.is_bound and form.is_valid() else [])
        if v
    }
    with transaction.atomic():
        record_event(
            action=AuditAction.EXPORT,
            actor=request.user,
            object_type="audits.auditevent",
            details={"format": "csv", "filters": filters, "rows": queryset.count()},
        )
    writer = csv.writer(_Echo())
    header = [
        _("Sequence"),
        _("Time"),
        _("Actor"),
        _("Action"),
        _("Object type"),
        _("Object id"),
        _("Deal"),
        _("Request id"),
        _("IP address"),
        _("Details"),
        _("MAC"),
    ]

    def rows() -> Iterator[str]:
        yield "\ufeff" + writer.writerow(header)
        fields = (
            "seq",
            "time",
            "actor_name",
            "action",
            "object_type",
            "object_id",
            "deal_ref",
            "request_id",
            "ip",
            "details",
            "mac",
        )
        for row in queryset.values_list(*fields).iterator(chunk_size=2000):
            seq, when, *rest = row
            yield writer.writerow(
                [seq, timezone.localtime(when).isoformat(), *(neutralise(v) for v in rest)]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.csv"'
    return response


@require_GET
@compliance_only
def deal_timeline(request: HttpRequest, reference: str) -> HttpResponse:
    """Every event of one deal, newest first; an unknown reference is a 404."""
    deal = get_object_or_404(
        TransferDeal.objects.restrict(request.user, "view").select_related("seller", "buyer"),
        reference=reference,
    )
    queryset = AuditEvent.objects.filter(deal_ref=str(deal.pk)).order_by("-seq")
    page = _events_page(queryset, request.GET.get("page"))
    return render(request, "audits/deal_timeline.html", {"deal": deal, "page_obj": page})


# --- reports --------------------------------------------------------------------------------


def _reports_page(request: HttpRequest, form: ReportForm, status: int = 200) -> HttpResponse:
    runs = ReportRun.objects.select_related("job", "requested_by")[:20]
    return render(request, "audits/reports.html", {"form": form, "runs": runs}, status=status)


@require_GET
@compliance_only
def reports(request: HttpRequest) -> HttpResponse:
    initial = {"kind": request.GET.get("kind", ""), "deal": request.GET.get("deal", "")}
    return _reports_page(request, ReportForm(initial=initial))


@require_POST
@compliance_only
def report_create(request: HttpRequest) -> HttpResponse:
    form = ReportForm(request.POST)
    if not form.is_valid():
        return _reports_page(request, form)
    data = form.cleaned_data
    params = ReportParams(
        deal=data.get("deal", "").strip(),
        date_from=data.get("date_from"),
        date_to=data.get("date_to"),
        by=data.get("by") or "user",
        campaign=data["campaign"].pk if data.get("campaign") else None,
    )
    try:
        run = report_request(actor=request.user, kind=data["kind"], params=params)
    except ValidationError as error:
        form.add_error(None, error)
        return _reports_page(request, form)
    return redirect("audits:report_detail", pk=run.pk)


@require_GET
@compliance_only
def report_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    run = get_object_or_404(ReportRun.objects.select_related("job", "requested_by"), pk=pk)
    return render(request, "audits/report_detail.html", {"run": run})


@require_GET
@compliance_only  # type: ignore[arg-type]  # a file answer is not an HttpResponse subclass
def report_download(request: HttpRequest, pk: uuid.UUID) -> FileResponse:
    """The PDF, to compliance only (files live under MEDIA_ROOT, never in static files)."""
    run = get_object_or_404(ReportRun, pk=pk)
    if not run.file:
        raise Http404
    path = report_path(run)
    if not path.is_file():
        raise Http404
    with transaction.atomic():
        record_event(
            action=AuditAction.EXPORT,
            actor=request.user,
            obj=run,
            deal=None,
            details={"format": "pdf", "kind": run.kind, "sha256": run.sha256},
        )
    name = f"{run.kind}-{run.created_at:%Y%m%d-%H%M}.pdf"
    return FileResponse(
        path.open("rb"), as_attachment=True, filename=name, content_type="application/pdf"
    )


# --- access reviews -------------------------------------------------------------------------


@require_GET
@compliance_only
def reviews(request: HttpRequest) -> HttpResponse:
    campaigns = AccessReviewCampaign.objects.select_related("reviewer").order_by("-created_at")
    page = Paginator(campaigns, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "audits/reviews.html", {"page_obj": page})


@compliance_only
def review_create(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None, initial={"reviewer": request.user.pk})
    if request.method == "POST" and form.is_valid():
        try:
            campaign = campaign_start(
                actor=request.user,
                name=form.cleaned_data["name"],
                deadline=form.cleaned_data["deadline"],
                reviewer=form.cleaned_data["reviewer"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("The campaign started."))
            return redirect("audits:review_detail", pk=campaign.pk)
    return render(request, "audits/review_create.html", {"form": form})


@require_GET
@compliance_only
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(AccessReviewCampaign.objects.select_related("reviewer"), pk=pk)
    items = campaign.items.select_related("user", "decided_by").order_by(
        "decision", "object_type", "object_label", "user__username", "permission"
    )
    show = request.GET.get("show", "pending")
    if show == "pending":
        items = items.filter(decision=ReviewDecision.PENDING)
    page = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))
    counts = {d.value: 0 for d in ReviewDecision}
    for decision in campaign.items.values_list("decision", flat=True):
        counts[decision] += 1
    return render(
        request,
        "audits/review_detail.html",
        {
            "campaign": campaign,
            "page_obj": page,
            "show": show,
            "counts": counts,
            "total": sum(counts.values()),
            "decision_form": DecisionForm(),
        },
    )


@require_POST
@compliance_only
def review_decide(request: HttpRequest, pk: int, item_pk: int) -> HttpResponse:
    item = get_object_or_404(AccessReviewItem, pk=item_pk, campaign_id=pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose keep or revoke and give a reason."))
        return redirect("audits:review_detail", pk=pk)
    try:
        review_item_decide(
            actor=request.user,
            item=item,
            decision=form.cleaned_data["decision"],
            reason=form.cleaned_data["reason"],
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if form.cleaned_data["decision"] == ReviewDecision.REVOKE:
            messages.success(request, _("Revoked: the permission was removed."))
        else:
            messages.success(request, _("Kept."))
    return redirect("audits:review_detail", pk=pk)


@require_POST
@compliance_only
def review_report(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(AccessReviewCampaign, pk=pk)
    run = report_request(
        actor=request.user, kind="access_review", params=ReportParams(campaign=campaign.pk)
    )
    return redirect("audits:report_detail", pk=run.pk)


# --- audit chain verification ----------------------------------------------------------------

#: Runs a page of the verification history shows.
RUNS_PAGE_SIZE = 20


def _run_context(run: ChainVerificationRun | None) -> dict[str, Any]:
    if run is None:
        return {"run": None, "message": "", "checkpoint": ""}
    latest = max(run.checkpoints or [{}], key=lambda c: c.get("seq", 0))
    return {
        "run": run,
        "message": run_message(run),
        "checkpoint": checkpoint_label(latest) if latest else "",
        "checkpoint_seq": latest.get("seq"),
    }


@require_GET
@compliance_only
def chain(request: HttpRequest) -> HttpResponse:
    """Verify the audit chain: start a run, watch it, read its result and every past run
    (the daily ones included), newest first."""
    runs = ChainVerificationRun.objects.select_related("started_by")
    current = None
    if request.GET.get("run"):
        try:
            current = runs.filter(pk=uuid.UUID(request.GET["run"])).first()
        except ValueError:
            current = None
    page = Paginator(runs.order_by("-started_at"), RUNS_PAGE_SIZE).get_page(request.GET.get("page"))
    history = [(run, run_message(run)) for run in page.object_list]
    return render(
        request,
        "audits/chain.html",
        {**_run_context(current), "page_obj": page, "history": history},
    )


@require_POST
@compliance_only
def chain_verify(request: HttpRequest) -> HttpResponse:
    """Start a verification of the whole chain, as a job with progress."""
    run = chain_verification_request(actor=request.user)
    return redirect(f"{reverse('audits:chain')}?run={run.pk}")


@require_GET
@compliance_only
def chain_run(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """One run's progress and result, polled by htmx while it runs."""
    run = get_object_or_404(ChainVerificationRun.objects.select_related("job"), pk=pk)
    return render(request, "audits/_chain_run.html", _run_context(run))
