"""The register of data-subject requests: intake, legal deadlines, reminders, outcomes.

Every request (access, correction, erasure, objection, complaint, restriction) gets a due date
from the policy of its jurisdiction (``NOTICE_REQUEST_POLICIES``: 15 days by default, PIPL
practice; one calendar month for GDPR art. 12(3)). Objections take effect at once: the customer
is excluded from every stage not yet run (the engine skips non-active customers) and the buyer
gets a follow-up task for what it already holds. Outcomes go through the owning services: a
correction through the customer vault's ``customer_update``, an erasure through the destruction
service once it exists (until then the request stays open and says why). The customer is told
every step by e-mail; the audit trail records ids and codes only.
"""

from __future__ import annotations

import calendar
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import get_template
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.choices import Role
from customers.choices import CustomerStatus, StatusChangeReason
from customers.erasure import customer_erase
from customers.models import Customer
from customers.services import customer_update
from notifications.choices import Kind
from transferdesk.crypto import blind_index
from transferdesk.trail import AuditAction, record_event

from . import events
from .models import HandoverItem, TransferDeal
from .notice_models import (
    DataSubjectRequest,
    IdentityCheck,
    RequestKind,
    RequestSource,
    RequestStatus,
)
from .notices import language_of
from .recipients import tell_request

logger = logging.getLogger(__name__)

#: Fields a customer may ask to correct (general and sensitive data they can know; core
#: identifiers are corrected with documents, through the vault's pages).
CORRECTABLE_FIELDS = (
    "full_name",
    "email",
    "phone",
    "postal_address",
    "preferences",
    "city",
    "region",
    "country",
    "preferred_language",
)
#: Countries whose customers fall under the GDPR (EU and EEA).
GDPR_COUNTRIES = frozenset(
    {
        *("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE"),
        *("IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"),
        *("IS", "LI", "NO"),
    }
)
#: Fulfilled requests that the buyer must follow (GDPR art. 19): portal task kind and reason.
FOLLOWUP_KINDS: dict[str, tuple[str, str]] = {
    RequestKind.CORRECTION: ("update", "correction"),
    RequestKind.ERASURE: ("delete", "erasure"),
    RequestKind.RESTRICTION: ("update", "restriction"),
}
DEFAULT_POLICIES: dict[str, dict[str, int]] = {"PIPL": {"days": 15}, "GDPR": {"months": 1}}


def policies() -> dict[str, dict[str, int]]:
    return getattr(settings, "NOTICE_REQUEST_POLICIES", DEFAULT_POLICIES)


def jurisdiction_for(customer: Customer) -> str:
    """GDPR for customers in (or sellers established in) the EU/EEA, PIPL otherwise."""
    countries = {customer.country, customer.organization.country}
    return "GDPR" if countries & GDPR_COUNTRIES and "GDPR" in policies() else "PIPL"


def _add_months(moment: datetime, months: int) -> datetime:
    """Same day ``months`` later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def due_date(received_at: datetime, jurisdiction: str) -> datetime:
    """The legal answer deadline of a request received at ``received_at``."""
    policy = policies().get(jurisdiction) or policies().get("PIPL") or {"days": 15}
    due = received_at
    if policy.get("months"):
        due = _add_months(due, int(policy["months"]))
    return due + timedelta(days=int(policy.get("days", 0)))


def reminder_lead() -> timedelta:
    return timedelta(days=getattr(settings, "NOTICE_REQUEST_REMIND_DAYS", 3))


# --- e-mail to the customer ----------------------------------------------------------------


def _recipient(customer: Customer) -> tuple[str, str, str] | None:
    """Address, name and language of a customer, read while their key still exists."""
    if not customer.email_bidx:
        return None
    return customer.email, customer.full_name, language_of(customer)


def _tell_customer(
    request_id: Any, template: str, recipient: tuple[str, str, str] | None = None
) -> None:
    """E-mail the customer about their request (after commit: a rolled-back request sends
    nothing). Says what happened, never repeats what they wrote. ``recipient`` is read before
    an erasure destroys the key that the address is encrypted under."""
    dsr = DataSubjectRequest.objects.select_related(
        "customer", "customer__data_key", "customer__organization", "deal", "deal__seller"
    ).get(pk=request_id)
    if recipient is None:
        if dsr.customer is None or dsr.customer.status == CustomerStatus.ERASED:
            return
        recipient = _recipient(dsr.customer)
    if recipient is None:
        return
    email, name, language = recipient
    with translation.override(language):
        context = {"request": dsr, "name": name, "deal": dsr.deal}
        subject = str(_("Your request about your personal data: {kind}")).format(
            kind=dsr.get_kind_display()
        )
        text = get_template(f"notice/email/{template}.txt").render(context)
    try:
        EmailMultiAlternatives(subject, text, to=[email]).send()
    except Exception:  # noqa: BLE001 - the request stands; the register shows it
        logger.warning("could not e-mail the customer about request %s", request_id)


def _send_consent(customer_id: Any, deal_id: Any) -> None:
    customer = Customer.objects.with_data_keys().get(pk=customer_id)
    if not customer.email_bidx:
        return
    deal = TransferDeal.objects.select_related("buyer").get(pk=deal_id)
    with translation.override(language_of(customer)):
        context = {"name": customer.full_name, "deal": deal, "buyer": deal.buyer}
        subject = str(_("Your consent to {buyer}'s purpose is recorded")).format(
            buyer=deal.buyer.legal_name
        )
        text = get_template("notice/email/consent_recorded.txt").render(context)
    try:
        EmailMultiAlternatives(subject, text, to=[customer.email]).send()
    except Exception:  # noqa: BLE001 - the consent stands; the page confirmed it
        logger.warning("could not e-mail the consent confirmation for deal %s", deal_id)


def tell_consent(customer_id: Any, deal_id: Any) -> None:
    """Confirm a recorded consent by e-mail (after commit, like every confirmation)."""
    transaction.on_commit(lambda: _send_consent(customer_id, deal_id))


def _on_commit_tell(
    request_id: Any, template: str, recipient: tuple[str, str, str] | None = None
) -> None:
    transaction.on_commit(lambda: _tell_customer(request_id, template, recipient))


# --- intake --------------------------------------------------------------------------------


def _requested_value(field_name: str, value: str) -> str:
    """A correction as the customer typed it; identifiers and codes in NFKC form (full-width
    input from a Chinese keyboard), as the vault stores and indexes them."""
    value = value.strip()
    if field_name in ("email", "phone", "country", "preferred_language"):
        value = blind_index.normalise_text(value).strip()
    return value


@transaction.atomic
def request_create(
    *,
    customer: Customer,
    deal: TransferDeal,
    kind: str,
    source: str,
    actor: Any = None,
    field_name: str = "",
    requested_value: str = "",
    message: str = "",
    identity_check: str | None = None,
) -> DataSubjectRequest:
    """Register a request; an objection takes effect in the same transaction."""
    kind, source = RequestKind(kind), RequestSource(source)
    if customer.organization_id != deal.seller_id:
        raise ValidationError(_("This customer is not in the deal's customer book."))
    if kind == RequestKind.CORRECTION:
        if field_name not in CORRECTABLE_FIELDS:
            raise ValidationError({"field_name": _("Choose the detail to correct.")})
        if not requested_value.strip():
            raise ValidationError({"requested_value": _("Give the correct value.")})
    if kind == RequestKind.COMPLAINT and not message.strip():
        raise ValidationError({"message": _("Tell us what your complaint is about.")})
    now = timezone.now()
    jurisdiction = jurisdiction_for(customer)
    dsr = DataSubjectRequest(
        customer=customer,
        data_key_id=customer.data_key_id,
        deal=deal,
        kind=kind,
        source=source,
        identity_check=identity_check
        or (IdentityCheck.LINK if source == RequestSource.CUSTOMER_PAGE else IdentityCheck.PENDING),
        jurisdiction=jurisdiction,
        field_name=field_name if kind == RequestKind.CORRECTION else "",
        requested_value=_requested_value(field_name, requested_value)
        if kind == RequestKind.CORRECTION
        else "",
        message=message.strip(),
        received_at=now,
        due_at=due_date(now, jurisdiction),
    )
    dsr.full_clean()
    dsr.save(force_insert=True)
    record_event(
        action=AuditAction.REQUEST_RECEIVED,
        actor=actor,
        obj=dsr,
        deal=deal,
        details={
            "customer": customer.pk,
            "kind": str(kind),
            "source": str(source),
            "field": dsr.field_name,
            "due": dsr.due_at.isoformat(),
        },
    )
    if kind == RequestKind.OBJECTION:
        _apply_objection(dsr, actor)
    tell_request(dsr, Kind.REQUEST_RECEIVED, actor=actor)
    events.request_received.send(sender=DataSubjectRequest, request_id=dsr.pk, deal_id=deal.pk)
    _on_commit_tell(dsr.pk, "request_received")
    return dsr


def _followups(dsr: DataSubjectRequest, *, kind: str, reason: str, actor: Any) -> int:
    """A task in the buyer's portal for every handed-over item of the customer (GDPR art. 19);
    returns how many. Items of a stage still running are skipped: the engine reads the
    customer's status as it goes."""
    from .portal_services import followup_create

    count = 0
    if dsr.customer_id is None:
        return count  # erased: the destruction service wiped the snapshots already
    items = HandoverItem.objects.filter(
        customer_id=dsr.customer_id, stage__deal_id=dsr.deal_id
    ).select_related("stage")
    for item in items:
        try:
            followup_create(item=item, kind=kind, reason=reason, actor=actor)
        except ValidationError:
            continue
        count += 1
    return count


def _apply_objection(dsr: DataSubjectRequest, actor: Any) -> None:
    """The customer leaves every stage not yet run (the engine moves active customers only)
    and every buyer that already holds their record gets a deletion task.

    The locked row is saved here rather than through ``customer_update``: that service is a
    durable transaction of its own and the objection must commit together with its request.
    Saving the model (not a queryset UPDATE) writes the history row, credited to the actor, or
    to nobody when the customer objected through their link.
    """
    assert dsr.customer_id is not None  # request_create had the customer in hand
    customer = (
        Customer.objects.select_for_update()
        .filter(pk=dsr.customer_id, status=CustomerStatus.ACTIVE)
        .first()
    )
    changed = customer is not None
    if customer is not None:
        customer.status = CustomerStatus.OBJECTED
        if getattr(actor, "is_authenticated", False):
            customer._history_user = actor  # type: ignore[attr-defined]  # simple-history
        customer._change_reason = StatusChangeReason.OBJECTION  # type: ignore[attr-defined]
        customer.save(update_fields=["status", "updated_at"])
    followups = _followups(dsr, kind="delete", reason="objection", actor=actor)
    now = timezone.now()
    DataSubjectRequest.objects.filter(pk=dsr.pk).update(
        status=RequestStatus.FULFILLED, closed_at=now, closed_by=None
    )
    dsr.status, dsr.closed_at = RequestStatus.FULFILLED, now
    record_event(
        action=AuditAction.OBJECTION,
        actor=actor,
        obj=dsr,
        deal=dsr.deal_id,
        details={
            "customer": dsr.customer_id,
            "status_changed": bool(changed),
            "followups": followups,
        },
    )


# --- handling ------------------------------------------------------------------------------


def _check_officer(actor: Any) -> None:
    if not actor.has_role(Role.COMPLIANCE):
        raise PermissionDenied(_("Only a compliance officer handles data-subject requests."))


def _lock_open(dsr: DataSubjectRequest) -> DataSubjectRequest:
    locked = DataSubjectRequest.objects.select_for_update().get(pk=dsr.pk)
    if locked.is_closed:
        raise ValidationError(_("This request is already closed."))
    return locked


@transaction.atomic(durable=True)
def request_update(
    *,
    actor: Any,
    request: DataSubjectRequest,
    assignee: Any = None,
    identity_check: str | None = None,
) -> DataSubjectRequest:
    """Assign the request or record the identity check."""
    _check_officer(actor)
    dsr = _lock_open(request)
    fields = []
    if assignee is not None and assignee.pk != dsr.assignee_id:
        if not assignee.has_role(Role.COMPLIANCE):
            raise ValidationError({"assignee": _("Assign requests to a compliance officer.")})
        dsr.assignee = assignee
        fields.append("assignee")
    if identity_check and identity_check != dsr.identity_check:
        dsr.identity_check = IdentityCheck(identity_check)
        fields.append("identity_check")
    if fields:
        dsr.save(update_fields=fields)
        record_event(
            action=AuditAction.UPDATE,
            actor=actor,
            obj=dsr,
            deal=dsr.deal_id,
            details={
                "fields": fields,
                "assignee": dsr.assignee_id,
                "identity_check": dsr.identity_check,
            },
        )
        if "assignee" in fields:
            tell_request(dsr, Kind.REQUEST_ASSIGNED, actor=actor)
    return dsr


def request_fulfil(
    *, actor: Any, request: DataSubjectRequest, note: str = ""
) -> DataSubjectRequest:
    """Carry the request out and close it (an erasure held back by a legal hold stays open and
    says why).

    The correction runs first, in the vault's own durable transaction; if closing fails after
    it, fulfilling again finds the value already correct and only closes.
    """
    _check_officer(actor)
    dsr = DataSubjectRequest.objects.select_related("customer", "customer__data_key").get(
        pk=request.pk
    )
    if dsr.is_closed:
        raise ValidationError(_("This request is already closed."))
    if dsr.customer is None:
        raise ValidationError(_("The customer has been erased; refuse or close the request."))
    if dsr.identity_check not in (IdentityCheck.LINK, IdentityCheck.VERIFIED):
        raise ValidationError(_("Check the person's identity before acting on the request."))
    if dsr.kind == RequestKind.CORRECTION:
        customer_update(
            actor=actor, customer=dsr.customer, values={dsr.field_name: dsr.requested_value}
        )
    recipient = None
    if dsr.kind == RequestKind.ERASURE:
        recipient = _recipient(dsr.customer)
        try:
            customer_erase(actor=actor, customer=dsr.customer, request_ref=str(dsr.pk))
        except ValidationError as exc:
            # A legal hold (or an erasure already done) is the destruction service's call:
            # the request stays open with its words, and its deadline still runs.
            return _wait(actor, dsr, " ".join(exc.messages))
    return _close(actor, dsr, RequestStatus.FULFILLED, note.strip(), recipient=recipient)


@transaction.atomic(durable=True)
def _wait(actor: Any, dsr: DataSubjectRequest, reason: str) -> DataSubjectRequest:
    dsr = _lock_open(dsr)
    dsr.status, dsr.waiting_reason = RequestStatus.WAITING, reason[:255]
    dsr.save(update_fields=["status", "waiting_reason"])
    record_event(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=dsr,
        deal=dsr.deal_id,
        details={"status": dsr.status, "waiting_for": "destruction"},
    )
    return dsr


@transaction.atomic(durable=True)
def request_refuse(*, actor: Any, request: DataSubjectRequest, reason: str) -> DataSubjectRequest:
    """Close a request as refused; the reason is required (the customer is told it and can
    complain to the authority)."""
    _check_officer(actor)
    if not reason.strip():
        raise ValidationError({"reason": _("A refusal needs a reason.")})
    return _close(actor, request, RequestStatus.REFUSED, reason.strip(), atomic=False)


def _close(
    actor: Any,
    dsr: DataSubjectRequest,
    status: str,
    reason: str,
    atomic: bool = True,
    recipient: tuple[str, str, str] | None = None,
) -> DataSubjectRequest:
    if atomic:
        with transaction.atomic(durable=True):
            return _close(actor, dsr, status, reason, atomic=False, recipient=recipient)
    dsr = _lock_open(dsr)
    dsr.status, dsr.outcome_reason = status, reason
    dsr.closed_by, dsr.closed_at, dsr.waiting_reason = actor, timezone.now(), ""
    # The customer row may be gone (erasure) and the content unreadable: check the rest.
    dsr.full_clean(exclude=["requested_value", "message", "customer", "data_key"])
    dsr.save(update_fields=["status", "outcome_reason", "closed_by", "closed_at", "waiting_reason"])
    followups = 0
    if status == RequestStatus.FULFILLED and dsr.kind in FOLLOWUP_KINDS:
        kind, reason_code = FOLLOWUP_KINDS[dsr.kind]
        followups = _followups(dsr, kind=kind, reason=reason_code, actor=actor)
    record_event(
        action=AuditAction.REQUEST_FULFILLED
        if status == RequestStatus.FULFILLED
        else AuditAction.UPDATE,
        actor=actor,
        obj=dsr,
        deal=dsr.deal_id,
        details={
            "outcome": str(status),
            "kind": dsr.kind,
            "customer": dsr.customer_id,
            "followups": followups,
        },
    )
    _on_commit_tell(dsr.pk, "request_outcome", recipient)
    return dsr


# --- reminders -----------------------------------------------------------------------------


def requests_remind() -> int:
    """Beat task body: tell the assignee (or every compliance officer while nobody is
    assigned) about each open request once when it comes within the reminder lead time of its
    deadline (``reminded_at``), and once when it is past it. The notification centre e-mails
    them by each one's preference, in their language; ids and due dates only. Returns how
    many requests were told about."""
    now = timezone.now()
    waiting = DataSubjectRequest.objects.filter(
        status__in=(RequestStatus.OPEN, RequestStatus.WAITING)
    ).select_related("assignee")
    told = 0
    for dsr in waiting.filter(
        reminded_at__isnull=True, due_at__gte=now, due_at__lte=now + reminder_lead()
    ):
        with transaction.atomic():
            if DataSubjectRequest.objects.filter(pk=dsr.pk, reminded_at__isnull=True).update(
                reminded_at=now
            ):
                tell_request(dsr, Kind.REQUEST_DUE_SOON)
                told += 1
    for dsr in waiting.filter(due_at__lt=now):
        with transaction.atomic():
            told += tell_request(dsr, Kind.REQUEST_OVERDUE, once=True)
    return told
