"""The buyer portal (``portal:``): deals, the NDA gate, handed-over records, acknowledgement,
questions, exports and follow-up tasks; plus the brokers' question queue and compliance's
overdue follow-ups.

Every deal page goes through ``_deal_gate``: outside the buyer's scope is a 404 (the same page
as a missing object); a buyer whose access ended (removed from the deal, deal cancelled, key
destroyed) gets a clear "access ended" page at their next request; a buyer who has not
accepted the current NDA is sent to it. Views stay thin: a selector reads, a service writes.
"""

from __future__ import annotations

from typing import Any, NoReturn, cast

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.choices import Role
from accounts.mfa import step_up
from transferdesk.clientip import client_ip
from transferdesk.middleware import get_request_context
from transferdesk.permissions import role_required
from transferdesk.trail import AuditAction, log_access, record_event

from . import exports, receipts
from . import portal_selectors as sel
from . import portal_services as svc
from .choices import StageKind
from .models import HandoverStage, NdaAcceptance, TransferDeal
from .portal_forms import (
    AcknowledgeForm,
    AnswerForm,
    AttestForm,
    FollowUpForm,
    ItemFilterForm,
    NdaAcceptForm,
    QuestionForm,
    ReceiptUploadForm,
)
from .portal_models import FollowUpStatus, FollowUpTask, Question
from .services import TransitionRefused, current_nda, has_accepted_current_nda, nda_accept

PAGE_SIZE = 25


class AccessEnded(Exception):
    """The buyer's portal access to a deal ended; shown as its own page, never as a 500."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NdaRequired(Exception):
    def __init__(self, deal: TransferDeal) -> None:
        super().__init__(str(deal.pk))
        self.deal = deal


def portal_page(view: Any) -> Any:
    """Buyers only; turns the gate's outcomes into the access-ended page or the NDA redirect."""
    from functools import wraps

    @role_required(Role.BUYER)
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except AccessEnded as ended:
            return render(request, "portal/access_ended.html", {"reason": ended.reason}, status=410)
        except NdaRequired as gate:
            url = reverse("portal:nda", args=[gate.deal.pk])
            return redirect(f"{url}?next={request.get_full_path()}")

    return wrapper


def _ended_reason(deal: TransferDeal) -> str:
    if deal.data_key.destroyed_at is not None:
        return _("The data of this deal has been destroyed; nothing of it can be shown any more.")
    return _("This deal was cancelled. Its data room is closed.")


def _check_deal(request: HttpRequest, deal: TransferDeal, *, nda: bool = True) -> None:
    if sel.access_ended(deal):
        raise AccessEnded(_ended_reason(deal))
    if nda and not has_accepted_current_nda(user=request.user, deal=deal):
        raise NdaRequired(deal)


def _revoked_or_404(request: HttpRequest, deal_id: Any) -> NoReturn:
    if sel.had_access(request.user, deal_id):
        raise AccessEnded(_("You no longer have access to this deal's data room."))
    raise Http404


def _deal_gate(request: HttpRequest, deal_pk: Any, *, nda: bool = True) -> TransferDeal:
    deal = (
        TransferDeal.objects.restrict(request.user, "portal")
        .select_related("data_key", "seller", "buyer")
        .filter(pk=deal_pk)
        .first()
    )
    if deal is None:
        _revoked_or_404(request, deal_pk)
    _check_deal(request, deal, nda=nda)
    return deal


def _stage_gate(request: HttpRequest, pk: Any) -> HandoverStage:
    """A stage handed over to the buyer (delivered or acknowledged), past the NDA gate."""
    stage = sel.portal_stages(request.user).filter(pk=pk).first()
    if stage is None:
        deal_id = HandoverStage.objects.filter(pk=pk).values_list("deal_id", flat=True).first()
        _revoked_or_404(request, deal_id)
    if stage.status not in svc.HANDED_OVER:
        raise Http404
    _check_deal(request, stage.deal)
    return stage


def _posted(request: HttpRequest) -> Any:
    """The POST data when posted (even empty, so an empty form shows its errors), else None."""
    return request.POST if request.method == "POST" else None


def _portal_event(request: HttpRequest, obj: Any, deal: Any, **details: Any) -> None:
    record_event(
        action=AuditAction.PORTAL_VIEW, actor=request.user, obj=obj, deal=deal, details=details
    )


# --- home and NDA ----------------------------------------------------------------------------


@role_required(Role.BUYER)
def home(request: HttpRequest) -> HttpResponse:
    """The buyer's landing page: their deals and the stages delivered to them."""
    user: Any = request.user
    deals = list(sel.portal_deals(user))
    accepted = set(
        NdaAcceptance.objects.filter(user=user, nda__deal__in=deals).values_list(
            "nda_id", flat=True
        )
    )
    cards = []
    for deal in deals:
        nda = current_nda(deal)
        stages: list[HandoverStage] = deal.handed_over  # type: ignore[attr-defined]
        cards.append(
            {
                "deal": deal,
                "ended": sel.access_ended(deal),
                "nda": nda,
                "nda_ok": nda is not None and nda.pk in accepted,
                "stages": stages,
                "items": sum(s.total for s in stages if s.kind != StageKind.AGGREGATE),
            }
        )
    new_answers = sel.unseen_answers(request.user).count()
    # Deals destroyed after the buyer's access was revoked are out of the portal scope; what
    # is left of them is the return-or-destroy attestation these users owe.
    from audits.models.retention import DealDestructionStatus
    from audits.retention import destructions_for_buyer

    attestations = destructions_for_buyer(user).filter(
        status=DealDestructionStatus.AWAITING_ATTESTATION
    )
    return render(
        request,
        "portal/home.html",
        {"cards": cards, "new_answers": new_answers, "attestations": attestations},
    )


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    # A path of this site only: ``redirect`` would try anything else as a view name (a 500).
    if target.startswith("/") and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return target
    return fallback


@portal_page
def nda(request: HttpRequest, deal_pk: Any) -> HttpResponse:
    """Read and accept the deal's current NDA; acceptance records time, address, browser and
    the SHA-256 of the exact text shown."""
    deal = _deal_gate(request, deal_pk, nda=False)
    current = current_nda(deal)
    accepted = current is not None and has_accepted_current_nda(user=request.user, deal=deal)
    form = NdaAcceptForm(_posted(request))
    if request.method == "POST" and current is not None and not accepted and form.is_valid():
        context = get_request_context()
        try:
            nda_accept(
                actor=request.user,
                nda=current,
                ip=context.ip if context else client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect(request.get_full_path())
        messages.success(request, _("Agreement accepted. The data room of this deal is open."))
        return redirect(_safe_next(request, reverse("portal:home")))
    # The "agreement changed" notice is for someone who accepted an earlier version, not for
    # a buyer opening the deal for the first time after a second version was published.
    previous = None
    if current is not None and not accepted:
        previous = (
            NdaAcceptance.objects.filter(nda__deal=deal, user=cast(Any, request.user))
            .order_by("-nda__version")
            .values_list("nda__version", flat=True)
            .first()
        )
    return render(
        request,
        "portal/nda.html",
        {
            "deal": deal,
            "nda": current,
            "accepted": accepted,
            "form": form,
            "next": _safe_next(request, ""),
            "previous_version": previous,
        },
    )


# --- records ---------------------------------------------------------------------------------


@portal_page
def stage(request: HttpRequest, pk: Any) -> HttpResponse:
    """A delivered stage: its records (paginated, filterable) or, for an aggregate stage,
    its statistics as tables and charts."""
    stage = _stage_gate(request, pk)
    if stage.kind == StageKind.AGGREGATE:
        _portal_event(request, stage, stage.deal_id, view="aggregate")
        return render(
            request,
            "portal/stage_aggregate.html",
            {"stage": stage, "deal": stage.deal, "charts": _charts(stage.result or {})},
        )
    names = sel.filter_fields(stage)
    form = ItemFilterForm(request.GET or None, fields=[(n, sel.field_label(n)) for n in names])
    filters = form.filters() if request.GET else {}
    query = form.cleaned_data.get("q", "") if form.is_bound and form.is_valid() else ""
    key = stage.deal.data_key.unwrap()
    page: Any
    if filters or query:
        ids = Paginator(sel.matching_ids(stage, key, filters, query), PAGE_SIZE)
        page = ids.get_page(request.GET.get("page"))
        rows = sel.decrypt_page(stage, page.object_list, key)
    else:
        items = Paginator(sel.stage_items(stage).order_by("pk"), PAGE_SIZE)
        page = items.get_page(request.GET.get("page"))
        rows = [sel.shown(stage, item, key) for item in page.object_list]
    columns = sel.list_columns(stage)
    _portal_event(
        request,
        stage,
        stage.deal_id,
        view="list",
        page=page.number,
        filtered=bool(filters or query),
        items=[row.pk for row in rows],
    )
    return render(
        request,
        "portal/stage_items.html",
        {
            "stage": stage,
            "deal": stage.deal,
            "form": form,
            "page_obj": page,
            "columns": [(c, sel.field_label(c)) for c in columns],
            "rows": [
                (row, [sel.display_value(c, row.fields.get(c)) for c in columns]) for row in rows
            ],
            "filtered": bool(filters or query),
            "fields_in_scope": len(_scope_fields(stage)),
            "withdrawn": sel.withdrawing_tasks()
            .filter(item__stage=stage)
            .values("item_id")
            .distinct()
            .count(),
            "export_window": exports.rate_limit_window_minutes(),
        },
    )


def _scope_fields(stage: HandoverStage) -> list[str]:
    from .engine import snapshot_fields

    return snapshot_fields(stage)


def _charts(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Horizontal bar charts, laid out here and drawn as inline SVG (no script, no style
    attribute: the CSP stays strict). Suppressed cells are drawn as a hatched stub."""
    charts = []
    for key, title in (
        ("by_segment", _("Customers by segment")),
        ("by_country", _("Customers by country")),
    ):
        cells = sorted(result.get(key) or [], key=lambda c: -(c["customers"] or 0))
        top = max((c["customers"] or 0 for c in cells), default=0) or 1
        total = sum(c["customers"] or 0 for c in cells) or 1
        bars = []
        for index, cell in enumerate(cells):
            n = cell["customers"]
            bars.append(
                {
                    "label": cell["value"],
                    "value": n,
                    "y": 8 + index * 34,
                    "width": max(4, round(360 * (n or 0) / top)) if n else 24,
                    "suppressed": n is None,
                    "share": round(100 * n / total, 1) if n else None,
                }
            )
        charts.append(
            {
                "key": key,
                "title": title,
                "bars": bars,
                "height": 16 + 34 * len(bars),
                "total": sum(c["customers"] or 0 for c in cells),
            }
        )
    return charts


@portal_page
def item(request: HttpRequest, pk: Any, item_pk: int) -> HttpResponse:
    """One record exactly as handed over: the snapshot's in-scope fields, decrypted with the
    deal key, each with its tier."""
    stage = _stage_gate(request, pk)
    obj = get_object_or_404(sel.stage_items(stage), pk=item_pk)
    row = sel.shown(stage, obj, stage.deal.data_key.unwrap())
    fields = [
        {
            "name": n,
            "label": sel.field_label(n),
            "tier": sel.field_tier(n),
            "value": sel.display_value(n, v),
        }
        for n, v in row.fields.items()
    ]
    log_access(
        request, action=AuditAction.PORTAL_VIEW, obj=obj, deal=stage.deal_id, fields=row.fields
    )
    questions = (
        Question.objects.restrict(request.user, "portal")
        .filter(item=obj)
        .annotate(n=Count("answers"))
    )
    tasks = FollowUpTask.objects.restrict(request.user, "portal").filter(item=obj)
    return render(
        request,
        "portal/item.html",
        {
            "stage": stage,
            "deal": stage.deal,
            "row": row,
            "fields": fields,
            "questions": questions,
            "tasks": tasks,
        },
    )


# --- acknowledgement and receipts -------------------------------------------------------------


@portal_page
def acknowledge(request: HttpRequest, pk: Any) -> HttpResponse:
    """Confirm receipt by typing (or pasting) the manifest root verified offline."""
    stage = _stage_gate(request, pk)
    form = AcknowledgeForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            svc.stage_acknowledge(
                stage=stage, actor=request.user, merkle_root=form.cleaned_data["merkle_root"]
            )
        except TransitionRefused as refused:
            messages.error(request, " ".join(refused.messages))
            return redirect("portal:acknowledge", pk=stage.pk)
        except ValidationError as error:
            for message in error.message_dict.get("merkle_root", error.messages):
                form.add_error("merkle_root", message)
        else:
            messages.success(request, _("Receipt acknowledged. Thank you."))
            return redirect("portal:acknowledge", pk=stage.pk)
    ack = getattr(stage, "acknowledgement", None) if hasattr(stage, "acknowledgement") else None
    return render(
        request,
        "portal/acknowledge.html",
        {
            "stage": stage,
            "deal": stage.deal,
            "manifest": stage.manifest,
            "form": form,
            "ack": ack,
            "withdrawals": sel.stage_withdrawals(stage),
        },
    )


@portal_page
def receipt(request: HttpRequest, pk: Any) -> HttpResponse:
    """The signed receipt (PDF) to verify offline and keep."""
    stage = _stage_gate(request, pk)
    pdf = receipts.receipt_pdf(stage, user=request.user)
    _portal_event(request, stage, stage.deal_id, view="receipt")
    response = HttpResponse(pdf, content_type="application/pdf")
    name = f"receipt-{stage.deal.reference}-{stage.order}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@portal_page
def manifest(request: HttpRequest, pk: Any) -> HttpResponse:
    """The machine-readable receipt bundle (signed manifest, item digests, public key)."""
    stage = _stage_gate(request, pk)
    _portal_event(request, stage, stage.deal_id, view="manifest")
    response = JsonResponse(
        receipts.manifest_bundle(stage), json_dumps_params={"ensure_ascii": False}
    )
    name = f"manifest-{stage.deal.reference}-{stage.order}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@portal_page
def receipt_bundle(request: HttpRequest, pk: Any) -> HttpResponse:
    """The receipt bundle (ZIP): signed manifest, digests, signature, public key,
    withdrawals, README and the standalone verifier."""
    stage = _stage_gate(request, pk)
    _portal_event(request, stage, stage.deal_id, view="receipt_bundle")
    response = HttpResponse(receipts.receipt_zip(stage), content_type="application/zip")
    name = f"receipt-{stage.deal.reference}-{stage.order}.zip"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@portal_page
def verify(request: HttpRequest, pk: Any) -> HttpResponse:
    """Check a downloaded receipt bundle against the deal's published key and the stage's
    stored records, before acknowledging it."""
    stage = _stage_gate(request, pk)
    form = ReceiptUploadForm(_posted(request), request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        try:
            bundle = receipts.bundle_from_upload(form.cleaned_data["file"].read())
        except receipts.UnreadableBundle:
            form.add_error("file", _("This is not a TransferDesk receipt bundle (ZIP or JSON)."))
        else:
            result = receipts.verify_for_stage(bundle, stage)
            _portal_event(request, stage, stage.deal_id, view="verify", ok=result.ok)
    return render(
        request,
        "portal/verify.html",
        {
            "stage": stage,
            "deal": stage.deal,
            "manifest": stage.manifest,
            "form": form,
            "result": result,
            "acknowledged": hasattr(stage, "acknowledgement"),
            "ack_form": AcknowledgeForm(initial={"merkle_root": stage.manifest.merkle_root}),
        },
    )


# --- exports ---------------------------------------------------------------------------------


@require_POST
@portal_page
@step_up
def export(request: HttpRequest, pk: Any, fmt: str) -> HttpResponse:
    """A watermarked CSV or XLSX of the stage's records, limited per user."""
    stage = _stage_gate(request, pk)
    if stage.kind == StageKind.AGGREGATE or fmt not in ("csv", "xlsx"):
        raise Http404
    if not exports.rate_limit_take(request.user):
        messages.error(
            request,
            _(
                "Export limit reached: you can export again in up to {minutes} minutes. "
                "Exports are limited to protect the data room against bulk copying."
            ).format(minutes=exports.rate_limit_window_minutes()),
        )
        return redirect("portal:stage", pk=stage.pk)
    record = svc.export_create(actor=request.user, stage=stage, fmt=fmt)
    items = sel.all_shown(stage, stage.deal.data_key.unwrap())
    if fmt == "csv":
        body, content_type = exports.build_csv(record, items), "text/csv; charset=utf-8"
    else:
        body = exports.build_xlsx(record, items)
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{exports.filename(record)}"'
    return response


# --- questions -------------------------------------------------------------------------------


@portal_page
def questions(request: HttpRequest, deal_pk: Any) -> HttpResponse:
    """The buyer's questions on a deal, and the form to ask one (about a stage or a record)."""
    deal = _deal_gate(request, deal_pk)
    stages = HandoverStage.objects.filter(deal=deal, status__in=svc.HANDED_OVER).order_by("order")
    initial: dict[str, Any] = {}
    if request.GET.get("stage"):
        initial["stage"] = request.GET["stage"]
    if request.GET.get("item", "").isdigit():
        initial["item"] = int(request.GET["item"])
    form = QuestionForm(_posted(request), stages=stages, initial=initial)
    if request.method == "POST" and form.is_valid():
        stage_obj = form.cleaned_data["stage"]
        item_obj = None
        if form.cleaned_data.get("item"):
            item_obj = get_object_or_404(sel.stage_items(stage_obj), pk=form.cleaned_data["item"])
        try:
            question = svc.question_ask(
                actor=request.user,
                stage=stage_obj,
                item=item_obj,
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Question sent to the deal's brokers."))
            return redirect("portal:question", pk=question.pk)
    threads = sel.deal_questions(request.user, deal)
    return render(
        request,
        "portal/questions.html",
        {"deal": deal, "form": form, "threads": threads, "about_item": initial.get("item")},
    )


@role_required(Role.BUYER, Role.BROKER, Role.COMPLIANCE)
def question(request: HttpRequest, pk: int) -> HttpResponse:
    """One thread. The asking deal's buyers read it, its brokers answer, compliance reads
    every deal's; nobody else learns it exists."""
    user: Any = request.user
    is_buyer = user.has_role(Role.BUYER)
    action = "portal" if is_buyer else "change" if user.has_role(Role.BROKER) else "view"
    question = (
        Question.objects.restrict(user, action)
        .select_related("deal", "deal__data_key", "stage", "asked_by", "item")
        .filter(pk=pk)
        .first()
    )
    if question is None:
        if is_buyer:
            deal_id = Question.objects.filter(pk=pk).values_list("deal_id", flat=True).first()
            try:
                _revoked_or_404(request, deal_id)
            except AccessEnded as ended:
                return render(
                    request, "portal/access_ended.html", {"reason": ended.reason}, status=410
                )
        raise Http404
    if is_buyer:
        try:
            _check_deal(request, question.deal)
        except AccessEnded as ended:
            return render(request, "portal/access_ended.html", {"reason": ended.reason}, status=410)
        except NdaRequired:
            return redirect(reverse("portal:nda", args=[question.deal_id]))
        svc.answers_mark_seen(actor=user, question=question)
    can_answer = action == "change"
    form = AnswerForm(_posted(request)) if can_answer else None
    if request.method == "POST":
        if not can_answer:
            raise PermissionDenied
        if form is not None and form.is_valid():
            svc.question_answer(actor=user, question=question, body=form.cleaned_data["body"])
            messages.success(request, _("Answer sent. The buyer is notified."))
            return redirect("portal:question", pk=question.pk)
    return _thread(request, question, form=form, follow_up=FollowUpForm() if is_buyer else None)


def _thread(request: HttpRequest, question: Question, *, form: Any, follow_up: Any) -> HttpResponse:
    return render(
        request,
        "portal/question.html",
        {
            "question": question,
            "deal": question.deal,
            "answers": question.answers.select_related("author"),
            "form": form,
            "follow_up": follow_up,
            "is_buyer": follow_up is not None,
            # A record withdrawn since (deleted, restricted) is no longer linked.
            "item_shown": question.item_id is not None
            and sel.stage_items(question.stage).filter(pk=question.item_id).exists(),
        },
    )


@portal_page
@require_POST
def question_follow_up(request: HttpRequest, pk: int) -> HttpResponse:
    """A buyer of the deal adds a message to a thread; it goes back to the brokers' queue."""
    question = (
        Question.objects.restrict(request.user, "portal")
        .select_related("deal", "deal__data_key", "stage", "asked_by", "item")
        .filter(pk=pk)
        .first()
    )
    if question is None:
        _revoked_or_404(
            request, Question.objects.filter(pk=pk).values_list("deal_id", flat=True).first()
        )
    _check_deal(request, question.deal)
    form = FollowUpForm(request.POST)
    if form.is_valid():
        body = form.cleaned_data["body"]
        svc.question_follow_up(actor=request.user, question=question, body=body)
        messages.success(request, _("Reply sent. The thread is back in the brokers' queue."))
        return redirect("portal:question", pk=question.pk)
    return _thread(request, question, form=None, follow_up=form)


@role_required(Role.BROKER, Role.COMPLIANCE)
def question_queue(request: HttpRequest) -> HttpResponse:
    """Buyers' questions on the deals the broker works on, open ones first."""
    queue = sel.question_queue(request.user)
    status = request.GET.get("status", "open")
    if status in Question.Status.values:
        queue = queue.filter(status=status)
    page = Paginator(queue, PAGE_SIZE).get_page(request.GET.get("page"))
    counts = dict(
        sel.question_queue(request.user)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk", distinct=True))
    )
    return render(
        request,
        "portal/question_queue.html",
        {"page_obj": page, "status": status, "counts": counts},
    )


# --- follow-up tasks -------------------------------------------------------------------------


@portal_page
def tasks(request: HttpRequest, deal_pk: Any) -> HttpResponse:
    """What the buyer must update or delete, by when (GDPR art. 19), with attestation."""
    deal = _deal_gate(request, deal_pk)
    rows = list(sel.deal_tasks(request.user, deal).order_by("status", "due_at"))
    key = deal.data_key.unwrap()
    # A record erased at the seller has no snapshot left to label it (None: the page says so).
    labels = {
        t.pk: sel.shown(t.item.stage, t.item, key).label if bytes(t.item.snapshot) else None
        for t in rows
    }
    _portal_event(request, deal, deal.pk, view="followups", items=[t.item_id for t in rows])
    return render(
        request,
        "portal/tasks.html",
        {
            "deal": deal,
            "open": [(t, labels[t.pk]) for t in rows if t.status == FollowUpStatus.OPEN],
            "done": [(t, labels[t.pk]) for t in rows if t.status == FollowUpStatus.DONE],
            "form": AttestForm(),
            "withdrawn": set(
                sel.withdrawing_tasks().filter(deal=deal).values_list("item_id", flat=True)
            ),
        },
    )


@require_POST
@portal_page
def task_attest(request: HttpRequest, pk: int) -> HttpResponse:
    task = FollowUpTask.objects.restrict(request.user, "portal").filter(pk=pk).first()
    if task is None:
        raise Http404
    deal = _deal_gate(request, task.deal_id)
    form = AttestForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say what was done with the record before attesting."))
        return redirect("portal:tasks", deal_pk=deal.pk)
    try:
        statement = form.cleaned_data["attestation"]
        svc.followup_attest(task=task, actor=request.user, statement=statement)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Completion attested. Thank you."))
    return redirect("portal:tasks", deal_pk=deal.pk)


@role_required(Role.COMPLIANCE)
def overdue(request: HttpRequest) -> HttpResponse:
    """Open follow-up tasks past their deadline, across every deal."""
    page = Paginator(sel.overdue_tasks(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "portal/overdue.html", {"page_obj": page})
