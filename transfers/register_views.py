"""Staff pages of notices and data-subject requests.

``notices:`` — a deal's notice campaigns: prepare (broker), approve (compliance, four eyes),
send and re-send as a job with a progress bar, the failures and the manual-notice list, and a
preview of the e-mail in each language. ``requests:`` — the compliance register of
data-subject requests with due dates, overdue highlighting and outcomes.

Deals and campaigns are fetched through ``restrict(user, "view")`` (outside the scope: 404);
forms live here because they are used by these pages alone.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from csp.decorators import csp_replace
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.choices import Role
from accounts.languages import site_language
from accounts.mfa import step_up
from accounts.models import User
from customers.models import Customer
from transferdesk.permissions import role_required
from transferdesk.trail import AuditAction, record_event

from . import letters, notices, requests
from .models import TransferDeal
from .notice_models import (
    CampaignStatus,
    DataSubjectRequest,
    IdentityCheck,
    Notice,
    NoticeCampaign,
    NoticeChannel,
    NoticeStatus,
    RequestKind,
    RequestSource,
    RequestStatus,
)

staff = role_required(Role.BROKER, Role.COMPLIANCE)
officer = role_required(Role.COMPLIANCE)
PAGE_SIZE = 25


def _errors(request: HttpRequest, exc: ValidationError) -> None:
    for message in exc.messages:
        messages.error(request, message)


def _deal(request: HttpRequest, pk: Any) -> TransferDeal:
    return get_object_or_404(
        TransferDeal.objects.restrict(request.user, "view").select_related("seller", "buyer"),
        pk=pk,
    )


def _campaign(request: HttpRequest, pk: Any) -> NoticeCampaign:
    return get_object_or_404(
        NoticeCampaign.objects.restrict(request.user, "view").select_related(
            "deal", "deal__seller", "deal__buyer", "prepared_by", "approved_by", "job"
        ),
        pk=pk,
    )


# --- campaigns -----------------------------------------------------------------------------


class CampaignForm(forms.Form):
    objection_deadline = forms.DateTimeField(
        label=gettext_lazy("Objection deadline"),
        # The value a datetime-local input accepts, whatever the language's own format.
        widget=forms.DateTimeInput(format="%Y-%m-%dT%H:%M", attrs={"type": "datetime-local"}),
        help_text=gettext_lazy("Customers can object until then; identified stages wait for it."),
    )
    purpose_changed = forms.BooleanField(
        label=gettext_lazy("The buyer's purpose differs from the purpose of collection"),
        required=False,
        help_text=gettext_lazy(
            "Identified stages will then need each customer's consent (PIPL art. 22). It is "
            "also set automatically when a customer's purpose of collection is not among the "
            "buyer's purposes."
        ),
    )


@staff
def campaign_list(request: HttpRequest, pk: Any) -> HttpResponse:
    """A deal's notice campaigns, and the form a broker prepares a new one with."""
    deal = _deal(request, pk)
    can_plan = TransferDeal.objects.restrict(request.user, "plan").filter(pk=deal.pk).exists()
    told = notices.told_deadline(deal)
    deadline = (timezone.now() + timedelta(days=30)).replace(second=0)
    initial = {"objection_deadline": max(deadline, told) if told else deadline}
    form = CampaignForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if not can_plan:
            raise PermissionDenied
        if form.is_valid():
            try:
                campaign = notices.campaign_prepare(
                    actor=request.user, deal=deal, **form.cleaned_data
                )
            except ValidationError as exc:
                _errors(request, exc)
            else:
                messages.success(
                    request, _("Notices prepared; a compliance officer approves them.")
                )
                return redirect("notices:campaign_detail", pk=campaign.pk)
    campaigns = deal.notice_campaigns.select_related("prepared_by", "approved_by").annotate(
        notice_count=Count("notices")
    )
    return render(
        request,
        "requests/campaign_list.html",
        {
            "deal": deal,
            "campaigns": campaigns,
            "form": form,
            "can_plan": can_plan,
            "purpose_differs": notices.purpose_differs(deal),
            "told_deadline": notices.deadline_text(told) if told else "",
        },
    )


@staff
def campaign_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """Status, delivery counts, live progress, failures and the manual-notice list."""
    campaign = _campaign(request, pk)
    if campaign.incident_id is not None:  # an incident's notices have their page there
        return redirect("lifecycle:incident_notices", pk=campaign.incident_id)
    user: Any = request.user
    counts = dict(campaign.notices.values_list("status").annotate(n=Count("pk")).order_by())
    failures = campaign.notices.filter(status=NoticeStatus.FAILED).select_related("customer")
    manual = campaign.notices.filter(status=NoticeStatus.MANUAL).select_related("customer")
    return render(
        request,
        "requests/campaign_detail.html",
        {
            "campaign": campaign,
            "deal": campaign.deal,
            "counts": [
                (label, counts.get(value, 0), value) for value, label in NoticeStatus.choices
            ],
            "failures": Paginator(failures, PAGE_SIZE).get_page(request.GET.get("failures")),
            "manual": Paginator(manual, PAGE_SIZE).get_page(request.GET.get("manual")),
            # Once every letter and call is recorded, say so, not "every address is usable".
            "manual_done": counts.get(NoticeStatus.MANUAL_DONE, 0),
            "approval_refusal": notices.approval_refusal(actor=request.user, campaign=campaign),
            "can_send": TransferDeal.objects.restrict(request.user, "plan")
            .filter(pk=campaign.deal_id)
            .exists()
            or user.has_role(Role.COMPLIANCE),
            "categories": [notices.CATEGORY_LABELS[c] for c in campaign.categories],
        },
    )


def _campaign_action(request: HttpRequest, pk: Any, service: Any, done: str) -> HttpResponse:
    campaign = _campaign(request, pk)
    try:
        service(actor=request.user, campaign=campaign)
    except ValidationError as exc:
        _errors(request, exc)
    else:
        messages.success(request, done)
    return redirect("notices:campaign_detail", pk=campaign.pk)


@staff
@require_POST
@step_up
def campaign_approve(request: HttpRequest, pk: Any) -> HttpResponse:
    return _campaign_action(request, pk, notices.campaign_approve, _("Notices approved."))


@staff
@require_POST
def campaign_send(request: HttpRequest, pk: Any) -> HttpResponse:
    return _campaign_action(
        request, pk, notices.campaign_send, _("Sending started; the notice period is open.")
    )


@staff
@require_POST
def campaign_resend(request: HttpRequest, pk: Any) -> HttpResponse:
    return _campaign_action(
        request, pk, notices.campaign_resend, _("The failed notices are being sent again.")
    )


@staff
@require_POST
def notice_manual_done(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a letter or a call for a customer the e-mail could not reach."""
    notice = get_object_or_404(
        Notice.objects.restrict(request.user, "view").select_related("campaign"), pk=pk
    )
    deal_id = notice.campaign.deal_id
    user: Any = request.user
    if not (
        user.has_role(Role.COMPLIANCE)
        or TransferDeal.objects.restrict(request.user, "plan").filter(pk=deal_id).exists()
    ):
        raise PermissionDenied
    channel = request.POST.get("channel", NoticeChannel.LETTER)
    if channel not in (NoticeChannel.LETTER, NoticeChannel.PHONE):
        channel = NoticeChannel.LETTER
    try:
        notices.notice_mark_manual_done(actor=request.user, notice=notice, channel=channel)
    except ValidationError as exc:
        _errors(request, exc)
    else:
        messages.success(request, _("Recorded."))
    return redirect("notices:campaign_detail", pk=notice.campaign_id)


@require_POST
@staff
def campaign_letters(request: HttpRequest, pk: Any) -> HttpResponse:
    """The letters (PDF) for the customers the e-mail cannot reach, all outstanding ones or
    the one chosen; for the deal's planners and compliance, like recording them."""
    campaign = _campaign(request, pk)
    user: Any = request.user
    if campaign.deal_id is None:  # an incident's notices have their own page
        raise Http404
    if not (
        user.has_role(Role.COMPLIANCE)
        or TransferDeal.objects.restrict(user, "plan").filter(pk=campaign.deal_id).exists()
    ):
        raise PermissionDenied
    if campaign.status == CampaignStatus.DRAFT:
        messages.error(request, _("Letters are printed once the notices are approved."))
        return redirect("notices:campaign_detail", pk=campaign.pk)
    chosen = request.POST.get("notice", "")
    notice_ids = [int(chosen)] if chosen.isdigit() else None
    pdf, count = letters.campaign_letters(actor=user, campaign=campaign, notice_ids=notice_ids)
    if not count:
        messages.info(request, _("No letter is outstanding."))
        return redirect("notices:campaign_detail", pk=campaign.pk)
    response = HttpResponse(pdf, content_type="application/pdf")
    name = f"letters-{campaign.deal.reference if campaign.deal else campaign.pk}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# E-mail HTML carries inline styles (mail clients ignore style sheets): this page alone allows
# them, and nothing else (no images, no forms). django-csp's decorator types are narrower than
# the view.
@staff  # type: ignore[arg-type]
@csp_replace(  # type: ignore[arg-type]
    {"style-src": ["'self'", "'unsafe-inline'"], "img-src": ["'none'"], "form-action": ["'none'"]}
)
def campaign_preview(request: HttpRequest, pk: Any) -> HttpResponse:
    """The notice e-mail as a customer sees it, with a placeholder name and link (no one's
    data), in the language asked for (``?lang=zh-hans``)."""
    campaign = _campaign(request, pk)
    if campaign.deal is None:  # an incident's notices: their preview is on its page
        return redirect("lifecycle:incident_notice_preview", pk=campaign.incident_id)
    language = site_language(request.GET.get("lang"))
    with translation.override(language):
        context = notices.notice_context(
            deal=campaign.deal,
            campaign=campaign,
            url=notices.public_url("/n/…/"),
        )
        context.update({"name": _("[customer name]"), "language": language, "preview": True})
        return render(request, "notice/email/notice.html", context)


# --- the request register ------------------------------------------------------------------


class RequestCreateForm(forms.Form):
    deal = forms.ModelChoiceField(label=gettext_lazy("Deal"), queryset=TransferDeal.objects.none())
    customer_reference = forms.CharField(label=gettext_lazy("Customer reference"), max_length=64)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=RequestKind.choices)
    source = forms.ChoiceField(
        label=gettext_lazy("Received by"),
        # The personal link and the seller's website (the API) register their own requests.
        choices=[
            c
            for c in RequestSource.choices
            if c[0] not in (RequestSource.CUSTOMER_PAGE, RequestSource.WEBSITE)
        ],
    )
    field_name = forms.ChoiceField(
        label=gettext_lazy("Field to correct"),
        required=False,
        choices=[("", "—")] + [(n, notices.field_label(n)) for n in requests.CORRECTABLE_FIELDS],
    )
    requested_value = forms.CharField(
        label=gettext_lazy("Correct value"), required=False, max_length=4000
    )
    message = forms.CharField(
        label=gettext_lazy("What the person asked"), required=False, widget=forms.Textarea
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        deal_field = self.fields["deal"]
        assert isinstance(deal_field, forms.ModelChoiceField)
        deal_field.queryset = TransferDeal.objects.restrict(user, "view")


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        label=gettext_lazy("Assignee"), queryset=User.objects.none(), required=False
    )
    identity_check = forms.ChoiceField(
        label=gettext_lazy("Identity check"), choices=IdentityCheck.choices
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assignee = self.fields["assignee"]
        assert isinstance(assignee, forms.ModelChoiceField)
        assignee.queryset = User.objects.filter(
            groups__name=Role.COMPLIANCE, is_active=True
        ).order_by("username")


class RefuseForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason for refusing"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("The customer is told this reason and can complain about it."),
    )


@officer
def request_list(request: HttpRequest) -> HttpResponse:
    """The register: open requests first by due date, overdue ones highlighted."""
    show = request.GET.get("show", "open")
    queryset = DataSubjectRequest.objects.restrict(request.user, "view").select_related(
        "customer", "deal", "assignee"
    )
    if show == "open":
        queryset = queryset.filter(status__in=(RequestStatus.OPEN, RequestStatus.WAITING))
    elif show == "overdue":
        queryset = queryset.filter(
            status__in=(RequestStatus.OPEN, RequestStatus.WAITING), due_at__lt=timezone.now()
        )
    queryset = queryset.order_by("due_at")
    stats = DataSubjectRequest.objects.restrict(request.user, "view").aggregate(
        open=Count("pk", filter=Q(status__in=(RequestStatus.OPEN, RequestStatus.WAITING))),
        overdue=Count(
            "pk",
            filter=Q(
                status__in=(RequestStatus.OPEN, RequestStatus.WAITING), due_at__lt=timezone.now()
            ),
        ),
    )
    return render(
        request,
        "requests/request_list.html",
        {
            "page_obj": Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page")),
            "show": show,
            "stats": stats,
            "now": timezone.now(),
        },
    )


@officer
def request_create(request: HttpRequest) -> HttpResponse:
    """Register a request received by e-mail, phone or letter."""
    form = RequestCreateForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        deal = data["deal"]
        customer = Customer.objects.filter(
            organization_id=deal.seller_id, reference=data["customer_reference"].strip()
        ).first()
        if customer is None:
            form.add_error("customer_reference", _("No customer of this deal has this reference."))
        else:
            try:
                dsr = requests.request_create(
                    actor=request.user,
                    customer=customer,
                    deal=deal,
                    kind=data["kind"],
                    source=data["source"],
                    field_name=data["field_name"],
                    requested_value=data["requested_value"],
                    message=data["message"],
                )
            except ValidationError as exc:
                _errors(request, exc)
            else:
                messages.success(request, _("Request registered."))
                return redirect("requests:request_detail", pk=dsr.pk)
    return render(request, "requests/request_form.html", {"form": form})


def _request(request: HttpRequest, pk: Any) -> DataSubjectRequest:
    return get_object_or_404(
        DataSubjectRequest.objects.restrict(request.user, "view").select_related(
            "customer", "data_key", "deal", "deal__buyer", "assignee", "closed_by"
        ),
        pk=pk,
    )


@officer
def request_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """One request with what the person wrote (decrypted, so the read is an audit event)."""
    dsr = _request(request, pk)
    # After an erasure the customer's key is gone, and with it what they wrote: say so
    # rather than try to decrypt (which raises, by design).
    erased = dsr.customer is None or dsr.data_key.is_destroyed
    if not erased and (dsr.requested_value or dsr.message):
        record_event(
            action=AuditAction.VIEW_SENSITIVE,
            actor=request.user,
            obj=dsr,
            deal=dsr.deal_id,
            details={"fields": ["requested_value", "message"]},
        )
    return render(
        request,
        "requests/request_detail.html",
        {
            "req": dsr,
            "erased": erased,
            "field_label": notices.field_label(dsr.field_name) if dsr.field_name else "",
            "assign_form": AssignForm(
                initial={"assignee": dsr.assignee_id, "identity_check": dsr.identity_check}
            ),
            "refuse_form": RefuseForm(),
        },
    )


@officer
@require_POST
def request_assign(request: HttpRequest, pk: Any) -> HttpResponse:
    dsr = _request(request, pk)
    form = AssignForm(request.POST)
    if form.is_valid():
        try:
            requests.request_update(
                actor=request.user,
                request=dsr,
                assignee=form.cleaned_data["assignee"],
                identity_check=form.cleaned_data["identity_check"],
            )
        except ValidationError as exc:
            _errors(request, exc)
        else:
            messages.success(request, _("Saved."))
    return redirect("requests:request_detail", pk=dsr.pk)


@officer
@require_POST
def request_fulfil(request: HttpRequest, pk: Any) -> HttpResponse:
    dsr = _request(request, pk)
    try:
        dsr = requests.request_fulfil(
            actor=request.user, request=dsr, note=request.POST.get("note", "")
        )
    except ValidationError as exc:
        _errors(request, exc)
    else:
        if dsr.status == RequestStatus.WAITING:
            messages.warning(request, dsr.waiting_reason)
        else:
            messages.success(request, _("Fulfilled; the customer is told."))
    return redirect("requests:request_detail", pk=dsr.pk)


@officer
@require_POST
def request_refuse(request: HttpRequest, pk: Any) -> HttpResponse:
    dsr = _request(request, pk)
    form = RefuseForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("A refusal needs a reason."))
        return redirect("requests:request_detail", pk=dsr.pk)
    try:
        requests.request_refuse(actor=request.user, request=dsr, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        _errors(request, exc)
    else:
        messages.success(request, _("Refused; the customer is told the reason."))
    return redirect("requests:request_detail", pk=dsr.pk)
