"""The customer's page (``notice:``): no account, a signed personal link.

The link is the only key: a tampered, expired or revoked link gets a page that explains what
to do and shows no data at all. A valid link shows the customer, in their own language, what
is held about them, what moves to whom and when, and lets them object, ask for a correction or
erasure, complain, or consent to a new purpose. Opening the page is an audit event; every
action is confirmed on screen and by e-mail. Requests are rate-limited per link and per
address (shared cache) so a link cannot be used to flood the register or guess tokens.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.languages import supported
from customers.choices import CustomerStatus, Tier
from customers.models import Customer
from customers.registry import fields_of
from transferdesk import ratelimit
from transferdesk.clientip import client_ip
from transferdesk.trail import AuditAction, record_event

from . import notices, requests
from .notice_models import (
    CampaignStatus,
    ConsentRecord,
    DataSubjectRequest,
    NoticeLink,
    RequestKind,
    RequestSource,
)

#: Hidden from the page: codes that mean nothing to the customer.
PAGE_HIDDEN = frozenset({"status", "legal_basis", "last_verified_on", "retention_until"})
#: Language codes shown as their names ("简体中文", not "zh-hans").
LANGUAGE_NAMES = {"en": _("English"), "zh-hans": _("Simplified Chinese")}
ACTIONS = {
    "object": RequestKind.OBJECTION,
    "correct": RequestKind.CORRECTION,
    "erase": RequestKind.ERASURE,
    "complain": RequestKind.COMPLAINT,
}
DONE = {
    "objection": _("Your objection is recorded"),
    "correction": _("Your correction request is recorded"),
    "erasure": _("Your erasure request is recorded"),
    "complaint": _("Your complaint is recorded"),
    "consent": _("Your consent is recorded"),
}


#: The budgets' window: an hour, so that token guessing stays slow but a customer who clicked
#: too often is back the same hour (``NOTICE_RATE_WINDOW_SECONDS`` overrides it).
RATE_WINDOW = 3600


def _rate_window() -> int:
    return int(getattr(settings, "NOTICE_RATE_WINDOW_SECONDS", RATE_WINDOW))


def _limited(request: HttpRequest, link_key: str) -> int | None:
    """Seconds to wait once the client's address or the link went over its hourly budget, or
    None. The address is the client's own (behind the proxy, from the trusted header), never
    the proxy's: one client guessing tokens must not lock every other customer out."""
    budgets = [
        (f"notice:link:{link_key[:64]}", getattr(settings, "NOTICE_RATE_LIMIT_PER_LINK", 60)),
    ]
    address = client_ip(request)
    if address is not None:
        budgets.insert(
            0, (f"notice:ip:{address}", getattr(settings, "NOTICE_RATE_LIMIT_PER_ADDRESS", 120))
        )
    waits = []
    for key, limit in budgets:
        count = ratelimit.hit(key, _rate_window())
        if count.value > limit:
            waits.append(count.retry_after)
    return max(waits) if waits else None


def _language(request: HttpRequest, customer: Customer) -> str:
    """The page's language: the one chosen with the page's switch (Django's language cookie),
    else the customer's stored preference, else the browser's (``Accept-Language``)."""
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    if supported(chosen):
        return chosen
    if customer.preferred_language:
        return notices.language_of(customer)
    return translation.get_language_from_request(request)


def _refuse(request: HttpRequest, reason: str, retry_after: int | None = None) -> HttpResponse:
    status = {"expired": 410, "limited": 429}.get(reason, 403)
    context: dict[str, Any] = {"reason": reason}
    if retry_after is not None:
        # The page says the wait the rate limit gives (what Retry-After says), in minutes.
        context["minutes"] = max(1, math.ceil(retry_after / 60))
    response = render(request, "notice/invalid.html", context, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _open(request: HttpRequest, token: str) -> NoticeLink | HttpResponse:
    # The rate-limit key for a link is the token's signature part, known before any lookup.
    retry_after = _limited(request, token.rsplit(":", 1)[-1])
    if retry_after is not None:
        return _refuse(request, "limited", retry_after)
    try:
        return notices.link_resolve(token)
    except notices.LinkInvalid as exc:
        return _refuse(request, exc.reason)


def _held(customer: Customer) -> list[tuple[str, Any]]:
    """What is held, decrypted for this customer alone; core identifiers only partly shown,
    since the page may be opened on a shared screen."""
    rows = []
    for tier in (Tier.GENERAL, Tier.SENSITIVE, Tier.CORE):
        for name in fields_of(Customer, tier):
            if name in PAGE_HIDDEN:
                continue
            value = getattr(customer, name)
            if value in ("", None):
                continue
            if name == "preferred_language":
                value = LANGUAGE_NAMES.get(notices.language_of(customer), value)
            if tier == Tier.CORE:
                text = str(value)
                value = "•" * max(0, len(text) - 4) + text[-4:]
            rows.append((notices.field_label(name), value))
    return rows


def _context(link: NoticeLink) -> dict[str, Any]:
    deal, customer = link.deal, link.customer
    campaign = deal.notice_campaigns.filter(
        status__in=(CampaignStatus.SENT, CampaignStatus.SENDING)
    ).first()
    # The latest deadline this customer was told (a later campaign never shortens it).
    deadline = notices.told_deadline(deal, customer_id=customer.pk) if campaign else None
    return {
        "link": link,
        "customer": customer,
        "deal": deal,
        "buyer": deal.buyer,
        "seller": deal.seller,
        "campaign": campaign,
        "deadline_text": notices.deadline_text(deadline) if campaign and deadline else "",
        "categories": [
            notices.CATEGORY_LABELS[c] for c in (campaign.categories if campaign else [])
        ],
        "held": _held(customer),
        "objected": customer.status == CustomerStatus.OBJECTED,
        "consented": ConsentRecord.objects.filter(deal=deal, customer=customer).exists(),
        "purpose_changed": notices.deal_purpose_changed(deal),
        "requests": DataSubjectRequest.objects.filter(customer=customer, deal=deal).order_by(
            "-received_at"
        ),
        "fields": [(name, notices.field_label(name)) for name in requests.CORRECTABLE_FIELDS],
    }


@never_cache
def page(request: HttpRequest, token: str) -> HttpResponse:
    """The customer's page; opening it is an audit event (who: the link; never the data)."""
    link = _open(request, token)
    if isinstance(link, HttpResponse):
        return link
    record_event(
        action=AuditAction.VIEW_SENSITIVE,
        obj=link.customer,
        deal=link.deal_id,
        details={"via": "customer_link", "link": link.pk},
    )
    with translation.override(_language(request, link.customer)):
        response = render(
            request, "notice/page.html", {**_context(link), "token": token, "error": None}
        )
    return response


@never_cache
@require_POST
def act(request: HttpRequest, token: str) -> HttpResponse:
    """Object, ask for a correction or erasure, complain, or consent; then the confirmation."""
    link = _open(request, token)
    if isinstance(link, HttpResponse):
        return link
    action = request.POST.get("action", "")
    with translation.override(_language(request, link.customer)):
        try:
            if action == "consent":
                notices.consent_record(
                    actor=None,
                    deal=link.deal,
                    customer=link.customer,
                    source=RequestSource.CUSTOMER_PAGE,
                )
                what = "consent"
                requests.tell_consent(link.customer.pk, link.deal_id)
            elif action in ACTIONS:
                dsr = requests.request_create(
                    customer=link.customer,
                    deal=link.deal,
                    kind=ACTIONS[action],
                    source=RequestSource.CUSTOMER_PAGE,
                    field_name=request.POST.get("field_name", ""),
                    requested_value=request.POST.get("requested_value", "")[:4000],
                    message=request.POST.get("message", "")[:4000],
                )
                what = dsr.kind
            else:
                raise ValidationError(_("Choose what you would like to do."))
        except ValidationError as exc:
            context = {**_context(link), "token": token, "error": exc.messages}
            return render(request, "notice/page.html", context, status=400)
    return redirect("notice:done", token=token, what=what)


@never_cache
def done(request: HttpRequest, token: str, what: str) -> HttpResponse:
    """The on-screen confirmation (the e-mail confirmation went out with the request)."""
    link = _open(request, token)
    if isinstance(link, HttpResponse):
        return link
    if what not in DONE:
        return _refuse(request, "tampered")
    with translation.override(_language(request, link.customer)):
        return render(
            request,
            "notice/done.html",
            {
                "title": DONE[what],
                "what": what,
                "token": token,
                "deal": link.deal,
                "buyer": link.deal.buyer,
                "seller": link.deal.seller,
                "customer": link.customer,
            },
        )
