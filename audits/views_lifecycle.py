"""Compliance pages for retention, backups and incidents: thin views over the services in
``audits.retention``, ``audits.backups`` and ``audits.incidents``."""

from __future__ import annotations

from typing import Any

from csp.decorators import csp_replace
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.choices import Role
from accounts.languages import site_language
from accounts.mfa import step_up
from customers.labels import field_labels
from customers.models import Customer
from transferdesk import jobs
from transferdesk.jobs import Job, job_create
from transferdesk.permissions import role_required
from transfers import notices
from transfers.models import TransferDeal
from transfers.notice_models import NoticeCampaign, NoticeStatus

from . import incidents as incident_services
from . import retention as retention_services
from .forms_lifecycle import (
    IncidentForm,
    IncidentStatusForm,
    IncidentTextsForm,
    LegalHoldForm,
    PolicyForm,
)
from .models import (
    BackupRun,
    DealDestruction,
    DestructionCertificate,
    Incident,
    LegalHold,
    PurgeRun,
    RestoreDrill,
    RetentionPolicy,
)
from .models.incidents import NOTICE_LANGUAGES

compliance_only = role_required(Role.COMPLIANCE)


def _page(request: HttpRequest, queryset: Any, param: str = "page") -> Any:
    """One page of ``queryset``; ``param`` names the query parameter, so that the tables of one
    page each page on their own."""
    return Paginator(queryset, settings.TRANSFERDESK_PAGE_SIZE).get_page(request.GET.get(param))


def _job(kind: str) -> Job | None:
    return Job.objects.filter(kind=kind).order_by("-created_at").first()


# --- retention ----------------------------------------------------------------------------


def _retention_page(
    request: HttpRequest, *, form: PolicyForm | None = None, hold_form: LegalHoldForm | None = None
) -> HttpResponse:
    policies = _page(
        request, RetentionPolicy.objects.select_related("organization", "confirmed_by")
    )
    previews = [retention_services.policy_preview(policy) for policy in policies]
    holds = _page(
        request,
        LegalHold.objects.filter(released_at__isnull=True).select_related(
            "customer", "deal", "placed_by"
        ),
        "holds_page",
    )
    runs = _page(
        request,
        PurgeRun.objects.select_related("policy__organization", "certificate", "certificate_job"),
        "runs_page",
    )
    destructions = _page(
        request,
        DealDestruction.objects.select_related("deal", "certificate"),
        "destructions_page",
    )
    cancelled = TransferDeal.objects.filter(status="cancelled", destruction__isnull=True)[:10]
    return render(
        request,
        "lifecycle/retention.html",
        {
            "form": form or PolicyForm(),
            "hold_form": hold_form or LegalHoldForm(),
            "page_obj": policies,
            "previews": previews,
            "holds": holds,
            "runs": runs,
            "destructions": destructions,
            "cancelled": cancelled,
            "job": _job("purge"),
            "section": "retention",
        },
    )


@compliance_only
def retention(request: HttpRequest) -> HttpResponse:
    """Policies with today's preview (counts only), legal holds, recent purges."""
    form = PolicyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        existing = RetentionPolicy.objects.filter(
            organization=data["organization"], category=data["category"]
        ).first()
        try:
            retention_services.policy_save(actor=request.user, policy=existing, **data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Policy saved. Check its preview and confirm it."))
            return redirect("lifecycle:retention")
    return _retention_page(request, form=form)


@compliance_only
@require_POST
def hold_place(request: HttpRequest) -> HttpResponse:
    """Place a legal hold on one customer or one deal; errors show on the retention page."""
    form = LegalHoldForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            retention_services.legal_hold_place(
                actor=request.user,
                reason=data["reason"],
                customer=data["customer"],
                deal=data["deal"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("The legal hold is in place: no purge touches it."))
            return redirect("lifecycle:retention")
    return _retention_page(request, hold_form=form)


@compliance_only
@require_POST
def policy_confirm(request: HttpRequest, pk: Any) -> HttpResponse:
    policy = get_object_or_404(RetentionPolicy, pk=pk)
    try:
        retention_services.policy_confirm(actor=request.user, policy=policy)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Policy confirmed: the daily purge will apply it."))
    return redirect("lifecycle:retention")


@compliance_only
@require_POST
def policy_run(request: HttpRequest, pk: Any) -> HttpResponse:
    """Run one confirmed policy now, as a job with progress."""
    policy = get_object_or_404(RetentionPolicy, pk=pk, confirmed_at__isnull=False)
    with transaction.atomic():
        job = job_create(kind="purge", actor=request.user, obj=policy)
        transaction.on_commit(
            lambda: jobs.enqueue(
                "audits.tasks_lifecycle.purge_policy",
                str(policy.pk),
                str(job.pk),
                request.user.pk,
                fail_job=job.pk,
            )
        )
    messages.success(request, _("The purge has started; its progress is shown below."))
    return redirect("lifecycle:retention")


@compliance_only
@require_POST
def hold_release(request: HttpRequest, pk: Any) -> HttpResponse:
    hold = get_object_or_404(LegalHold, pk=pk)
    try:
        retention_services.legal_hold_release(actor=request.user, hold=hold)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The legal hold was released."))
    return redirect("lifecycle:retention")


@compliance_only
def run_certificate(request: HttpRequest, pk: Any) -> HttpResponse:
    """A purge run's certificate: the PDF once it exists, its job's progress until then.
    POST asks for it again (after a failed job)."""
    run = get_object_or_404(PurgeRun.objects.select_related("certificate_job"), pk=pk)
    certificate = DestructionCertificate.objects.filter(run=run).first()
    if certificate is not None:
        return redirect("lifecycle:certificate_pdf", pk=certificate.pk)
    if request.method == "POST" and (run.customers or run.rows):
        retention_services.certificate_request(run=run, actor=request.user)
        return redirect("lifecycle:run_certificate", pk=run.pk)
    return render(
        request,
        "lifecycle/run_certificate.html",
        {"run": run, "job": run.certificate_job, "section": "retention"},
    )


@compliance_only
def certificate_pdf(request: HttpRequest, pk: Any) -> HttpResponse:
    certificate = get_object_or_404(DestructionCertificate, pk=pk)
    response = HttpResponse(bytes(certificate.pdf), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="destruction-{certificate.pk}.pdf"'
    return response


# --- backups ------------------------------------------------------------------------------


@compliance_only
def backups(request: HttpRequest) -> HttpResponse:
    """Backup runs and restore drills, newest first."""
    return render(
        request,
        "lifecycle/backups.html",
        {
            "page_obj": _page(request, BackupRun.objects.all()),
            "drills": _page(
                request, RestoreDrill.objects.select_related("started_by"), "drills_page"
            ),
            "retention_days": settings.TRANSFERDESK_BACKUP_RETENTION_DAYS,
            "job": _job("restore_drill"),
            "section": "backups",
        },
    )


@compliance_only
@require_POST
def drill_start(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        job = job_create(kind="restore_drill", actor=request.user, total=1)
        transaction.on_commit(
            lambda: jobs.enqueue(
                "audits.tasks_lifecycle.restore_drill",
                request.user.pk,
                str(job.pk),
                fail_job=job.pk,
            )
        )
    messages.success(request, _("The restore drill has started."))
    return redirect("lifecycle:backups")


# --- incidents ------------------------------------------------------------------------------


def _deals() -> Any:
    return TransferDeal.objects.order_by("reference")


@compliance_only
def incidents(request: HttpRequest) -> HttpResponse:
    form = IncidentForm(request.POST or None, deals=_deals())
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            incident = incident_services.incident_create(actor=request.user, **data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Incident recorded; the clock has started."))
            return redirect("lifecycle:incident_detail", pk=incident.pk)
    page = _page(request, Incident.objects.select_related("reported_by"))
    rows = [(incident, incident_services.deadlines(incident)) for incident in page]
    return render(
        request,
        "lifecycle/incidents.html",
        {"form": form, "page_obj": page, "rows": rows, "section": "incidents"},
    )


@compliance_only
def incident_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    incident = get_object_or_404(Incident.objects.select_related("reported_by"), pk=pk)
    found = incident_services.affected(incident)
    customers: list[Any] = sorted(found.customers.items())
    affected_page = Paginator(customers, settings.TRANSFERDESK_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    # Labels and references only for the rows shown: an incident may concern many thousands
    # of people. A customer erased since has no reference any more: the record id remains.
    references = {
        str(pk): reference
        for pk, reference in Customer.objects.filter(
            pk__in=[pk for pk, _names in affected_page.object_list]
        ).values_list("pk", "reference")
    }
    affected_page.object_list = [
        (pk, references.get(pk), field_labels(names)) for pk, names in affected_page.object_list
    ]
    return render(
        request,
        "lifecycle/incident_detail.html",
        {
            "incident": incident,
            "deadlines": incident_services.deadlines(incident),
            "found": found,
            "field_labels": field_labels(found.fields),
            "page_obj": affected_page,
            "status_form": IncidentStatusForm(initial={"status": incident.status}),
            "texts_form": IncidentTextsForm(
                initial={name: getattr(incident, name) for name in IncidentTextsForm.base_fields}
            ),
            "section": "incidents",
            **_incident_campaign(incident),
        },
    )


def _incident_campaign(incident: Incident) -> dict[str, Any]:
    """The incident's notice campaign (the notice machinery's) and its counts, or none."""
    campaign = (
        NoticeCampaign.objects.filter(incident=incident)
        .select_related("prepared_by", "approved_by", "job")
        .first()
    )
    counts = incident_services.notice_counts(campaign) if campaign else {}
    return {"campaign": campaign, "notice_counts": counts}


@compliance_only
@require_POST
def incident_notices_prepare(request: HttpRequest, pk: Any) -> HttpResponse:
    """Prepare the notices to the people affected; another compliance officer approves them."""
    incident = get_object_or_404(Incident, pk=pk)
    try:
        incident_services.incident_notices_prepare(actor=request.user, incident=incident)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("lifecycle:incident_detail", pk=incident.pk)
    messages.success(
        request, _("Notices prepared; another compliance officer reviews and approves them.")
    )
    return redirect("lifecycle:incident_notices", pk=incident.pk)


@compliance_only
def incident_notices(request: HttpRequest, pk: Any) -> HttpResponse:
    """The incident's notice campaign: review (who, which fields, which language, which
    link), approve, send, live progress, failures with their reasons, the letter-or-call list.
    The buttons post to the notice machinery's own actions (``notices:``)."""
    incident = get_object_or_404(Incident, pk=pk)
    context = _incident_campaign(incident)
    campaign = context["campaign"]
    if campaign is None:
        return redirect("lifecycle:incident_detail", pk=incident.pk)
    rows = campaign.notices.select_related("customer", "link_deal").order_by("pk")
    size = settings.TRANSFERDESK_PAGE_SIZE
    recipients = Paginator(rows, size).get_page(request.GET.get("page"))
    recipients.object_list = [(notice, field_labels(notice.fields)) for notice in recipients]
    return render(
        request,
        "lifecycle/incident_notices.html",
        {
            **context,
            "incident": incident,
            "recipients": recipients,
            "failures": Paginator(rows.filter(status=NoticeStatus.FAILED), size).get_page(
                request.GET.get("failures")
            ),
            "manual": Paginator(rows.filter(status=NoticeStatus.MANUAL), size).get_page(
                request.GET.get("manual")
            ),
            "approval_refusal": notices.approval_refusal(actor=request.user, campaign=campaign),
            "texts": [
                # (the HTML ``lang`` of the text, the language's name, the texts)
                (
                    "zh-Hans" if code.startswith("zh") else code,
                    incident_services.language_name(code),
                    incident.texts(code),
                )
                for code in NOTICE_LANGUAGES
            ],
            "section": "incidents",
        },
    )


# E-mail HTML carries inline styles (mail clients ignore style sheets): this page alone allows
# them, and nothing else (no images, no forms), as the transfer notice's preview does.
@compliance_only  # type: ignore[arg-type]
@csp_replace(  # type: ignore[arg-type]
    {"style-src": ["'self'", "'unsafe-inline'"], "img-src": ["'none'"], "form-action": ["'none'"]}
)
def incident_notice_preview(request: HttpRequest, pk: Any) -> HttpResponse:
    """The notice e-mail as a customer sees it (placeholder name and link, every field the
    incident exposed), in the language asked for (``?lang=zh-hans``)."""
    incident = get_object_or_404(Incident, pk=pk)
    language = site_language(request.GET.get("lang"))
    context = incident_services.notice_preview(incident, language=language)
    with translation.override(language):
        return render(request, "notice/email/incident.html", {**context, "preview": True})


@compliance_only
@require_POST
def incident_status(request: HttpRequest, pk: Any) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    form = IncidentStatusForm(request.POST)
    if form.is_valid():
        incident_services.incident_set_status(
            actor=request.user, incident=incident, status=form.cleaned_data["status"]
        )
        messages.success(request, _("Status updated."))
    return redirect("lifecycle:incident_detail", pk=incident.pk)


@compliance_only
@require_POST
def incident_texts(request: HttpRequest, pk: Any) -> HttpResponse:
    """Correct or complete the texts of the notice, in English and in Simplified Chinese."""
    incident = get_object_or_404(Incident, pk=pk)
    form = IncidentTextsForm(request.POST)
    if form.is_valid():
        try:
            incident_services.incident_set_texts(
                actor=request.user, incident=incident, texts=form.cleaned_data
            )
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("Texts saved."))
    else:
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
    return redirect("lifecycle:incident_detail", pk=incident.pk)


@compliance_only
def incident_report(request: HttpRequest, pk: Any) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    pdf = incident_services.incident_report_pdf(actor=request.user, incident=incident)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="incident-{incident.reference}.pdf"'
    return response


# --- deal destruction (DESIGN.md guarantee 9) -----------------------------------------------


@compliance_only
@step_up
def deal_destroy(request: HttpRequest, pk: Any) -> HttpResponse:
    """Confirm, then destroy a cancelled deal or a losing bidder's deal."""
    from .models.retention import DealDestructionReason

    deal = get_object_or_404(TransferDeal.objects.restrict(request.user, "view"), pk=pk)
    if request.method == "POST":
        reason = request.POST.get("reason", "")
        if reason not in DealDestructionReason.values:
            messages.error(request, _("Choose why the deal is destroyed."))
        else:
            try:
                retention_services.deal_destroy(actor=request.user, deal=deal, reason=reason)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(
                    request,
                    _("The deal key was destroyed and the buyer's access revoked; the buyer is "
                      "asked for their attestation."),
                )  # fmt: skip
                return redirect("lifecycle:retention")
    return render(
        request,
        "lifecycle/deal_destroy.html",
        {
            "deal": deal,
            "reasons": DealDestructionReason.choices,
            "refusal": retention_services.deal_destroy_refusal(deal),
            "section": "retention",
        },
    )


@role_required(Role.BUYER)
def destruction_attest(request: HttpRequest, pk: Any) -> HttpResponse:
    """The buyer's return-or-destroy attestation. The buyer no longer reaches the deal (its
    access was revoked), so the scope here is a destruction that revoked this user's access to
    a deal of their organisation; anything else is the 404 of a missing object."""
    destruction = get_object_or_404(retention_services.destructions_for_buyer(request.user), pk=pk)
    if request.method == "POST":
        try:
            retention_services.deal_destruction_attest(
                actor=request.user,
                destruction=destruction,
                attestation=request.POST.get("attestation", ""),
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Thank you: your attestation was recorded."))
            return redirect("lifecycle:destruction_attest", pk=destruction.pk)
    return render(request, "lifecycle/destruction_attest.html", {"destruction": destruction})
