"""The incident register: record, compute who is affected from the access log, watch the
deadlines, notify the people affected, report to the authority. Every step is an audit event.

The affected customers are *derived*, never typed: every read of customer data leaves an event
(DESIGN.md guarantee 6) naming the object read and the fields, so the events of the incident's
window (optionally narrowed to its deals and to the accounts involved) say exactly whose data
was exposed and which fields. Anyone holding the trail can re-derive the list.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.dispatch import receiver
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.choices import Role
from accounts.languages import site_language
from customers.labels import field_labels
from customers.models import Customer, Organization
from transferdesk.trail import AuditAction, AuditEvent, chain_head, record_event
from transfers import notices
from transfers.engine import snapshot_fields
from transfers.models import HandoverItem, HandoverStage, TransferDeal
from transfers.notice_models import NoticeStatus
from transfers.notices import incident_notices_progressed
from transfers.portal_selectors import list_columns

from .models import Incident
from .models.incidents import INCIDENT_TEXTS, NOTICE_LANGUAGES, IncidentStatus

#: The reads that expose customer data. PORTAL_VIEW is the buyer's reading of a snapshot.
ACCESS_ACTIONS = (
    AuditAction.VIEW_SENSITIVE,
    AuditAction.VIEW_CORE,
    AuditAction.REVEAL,
    AuditAction.EXPORT,
    AuditAction.PORTAL_VIEW,
)


def _require_compliance(actor: Any) -> None:
    if actor is None or not actor.has_role(Role.COMPLIANCE):
        raise PermissionDenied(_("Only compliance officers manage incidents."))


# --- the register ---------------------------------------------------------------------------


def _next_reference(detected_at: dt.datetime) -> str:
    prefix = f"INC-{detected_at:%Y}-"
    count = Incident.objects.filter(reference__startswith=prefix).count()
    return f"{prefix}{count + 1:04d}"


@transaction.atomic(durable=True)
def incident_create(
    *,
    actor: Any,
    detected_at: dt.datetime,
    description: str,
    severity: str,
    window_start: dt.datetime,
    window_end: dt.datetime,
    deals: Iterable[Any] = (),
    suspect_users: Iterable[Any] = (),
    measures: str = "",
    contact: str = "",
    description_zh: str = "",
    measures_zh: str = "",
    contact_zh: str = "",
) -> Incident:
    """Register an incident; the deadline clock starts at ``detected_at``. The free texts
    come in English and, for Chinese-speaking customers, in Simplified Chinese (``*_zh``)."""
    _require_compliance(actor)
    incident = Incident(
        reference=_next_reference(detected_at),
        detected_at=detected_at,
        reported_by=actor,
        description=description.strip(),
        severity=severity,
        window_start=window_start,
        window_end=window_end,
        measures=measures.strip(),
        contact=contact.strip(),
        description_zh=description_zh.strip(),
        measures_zh=measures_zh.strip(),
        contact_zh=contact_zh.strip(),
    )
    incident.full_clean()
    incident.save(force_insert=True)
    incident.deals.set(list(deals))
    incident.suspect_users.set(list(suspect_users))
    record_event(
        action=AuditAction.INCIDENT,
        actor=actor,
        obj=incident,
        details={
            "step": "recorded",
            "severity": severity,
            "deals": [str(d.pk) for d in incident.deals.all()],
        },
    )
    return incident


@transaction.atomic(durable=True)
def incident_set_status(
    *, actor: Any, incident: Incident, status: str, measures: str | None = None
) -> Incident:
    _require_compliance(actor)
    status = IncidentStatus(status)
    fields = ["status"]
    incident.status = status
    if measures is not None:
        incident.measures = measures.strip()
        fields.append("measures")
    if status == IncidentStatus.REPORTED and incident.authority_notified_at is None:
        incident.authority_notified_at = timezone.now()
        fields.append("authority_notified_at")
    incident.full_clean()
    incident.save(update_fields=fields)
    record_event(
        action=AuditAction.INCIDENT,
        actor=actor,
        obj=incident,
        details={"step": "status", "status": str(status)},
    )
    return incident


@transaction.atomic(durable=True)
def incident_set_texts(*, actor: Any, incident: Incident, texts: dict[str, str]) -> Incident:
    """Correct or complete the free texts the people affected read, in each language
    (``texts`` maps ``description``, ``measures_zh`` … to the new text). The event names
    which texts changed, not what they say."""
    _require_compliance(actor)
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    names = [f"{n}{s}" for n in INCIDENT_TEXTS for s in ("", "_zh")]
    changed = []
    for name in names:
        if name in texts and getattr(incident, name) != texts[name].strip():
            setattr(incident, name, texts[name].strip())
            changed.append(name)
    if not changed:
        return incident
    incident.full_clean()
    incident.save(update_fields=changed)
    record_event(
        action=AuditAction.INCIDENT,
        actor=actor,
        obj=incident,
        details={"step": "texts", "fields": changed},
    )
    return incident


def language_name(language: str) -> str:
    return _("Simplified Chinese") if language.startswith("zh") else _("English")


def missing_texts(incident: Incident, languages: Iterable[str]) -> dict[str, list[str]]:
    """The free texts a notice in each of ``languages`` would lack: what happened always;
    the measures and the contact when given in any language (a reader of another language
    must not get the generic wording instead). Language -> text names, only when some lack."""
    missing: dict[str, list[str]] = {}
    for language in sorted(set(languages)):
        lacking = [
            name
            for name in INCIDENT_TEXTS
            if not incident.text(name, language)
            and (name == "description" or any(incident.text(name, o) for o in NOTICE_LANGUAGES))
        ]
        if lacking:
            missing[language] = lacking
    return missing


def _refuse_missing_texts(incident: Incident, languages: dict[str, int]) -> None:
    """Refuse, naming the language, when people affected read a language the incident's
    texts are not written in."""
    labels = {"description": _("What happened"), "measures": _("What we have done"),
              "contact": _("Contact")}  # fmt: skip
    errors = [
        _(
            "{count} of the people affected read {language}, but the incident has no "
            "{language} text for: {texts}. Add it, then prepare the notices."
        ).format(
            count=languages[language],
            language=language_name(language),
            texts=", ".join(str(labels[name]) for name in names),
        )
        for language, names in missing_texts(incident, languages).items()
    ]
    if errors:
        raise ValidationError(errors)


# --- who is affected ----------------------------------------------------------------------------


@dataclass
class Affected:
    """The customers whose data the access log shows read in the window, with the fields."""

    customers: dict[str, set[str]] = field(default_factory=dict)
    #: The deals the events named per customer (their ``deal_ref``), for the personal links.
    deals: dict[str, set[str]] = field(default_factory=dict)
    events: int = 0
    list_views: int = 0  # list pages: the event names the book, not the customers on it

    @property
    def fields(self) -> list[str]:
        return sorted({name for names in self.customers.values() for name in names})


def access_events(incident: Incident) -> Any:
    """The access events of the incident's window, deals and accounts."""
    events = AuditEvent.objects.filter(
        action__in=[a.value for a in ACCESS_ACTIONS],
        time__gte=incident.window_start,
        time__lte=incident.window_end,
    )
    deal_ids = [str(pk) for pk in incident.deals.values_list("pk", flat=True)]
    if deal_ids:
        events = events.filter(deal_ref__in=deal_ids)
    user_ids = list(incident.suspect_users.values_list("pk", flat=True))
    if user_ids:
        events = events.filter(actor_id__in=user_ids)
    return events


def affected(incident: Incident) -> Affected:
    """Resolve each access event to the customers it exposed, and which of their fields:

    - a customer page: that customer, with the fields the event names;
    - a handed-over record in the portal: its customer, with the fields shown;
    - a page of a stage's record list: the records on that page (the event lists them),
      with the stage's list columns;
    - a portal export: every record of the exported stage, with every field of its snapshot;
    - a stage event naming fields but no records (older events): every record of the stage.

    A stage's aggregate, receipt or manifest view shows no one's data; other pages (lists of
    books, follow-ups) name no customer and are counted apart for a person to review.
    """
    result = Affected()
    per_customer: dict[str, set[str]] = defaultdict(set)
    per_deal: dict[str, set[str]] = defaultdict(set)
    items: dict[str, set[str]] = defaultdict(set)
    stages: dict[str, set[str]] = defaultdict(set)
    listed: dict[str, set[str]] = defaultdict(set)  # stage id -> item ids on its list pages
    exported: set[str] = set()  # stage ids
    rows = access_events(incident).values_list("object_type", "object_id", "details", "deal_ref")
    for object_type, object_id, details, deal_ref in rows.iterator(chunk_size=5000):
        result.events += 1
        details = details or {}
        names = set(details.get("fields") or [])
        if object_type == "customers.customer":
            per_customer[object_id] |= names
            if deal_ref:
                per_deal[object_id].add(deal_ref)
        elif object_type == "transfers.handoveritem":
            items[object_id] |= names
        elif object_type == "transfers.handoverstage" and details.get("view") == "list":
            listed[object_id] |= {str(pk) for pk in details.get("items") or []}
        elif object_type == "transfers.handoverstage" and details.get("view"):
            continue  # aggregate, receipt, manifest: no one's data
        elif object_type == "transfers.handoverstage":
            stages[object_id] |= names
        elif object_type == "transfers.portalexport" and details.get("stage"):
            exported.add(str(details["stage"]))
        else:
            result.list_views += 1
    if listed or exported:
        for stage in HandoverStage.objects.filter(pk__in=[*listed, *exported]):
            if str(stage.pk) in exported:
                stages[str(stage.pk)] |= set(snapshot_fields(stage))
            for item_pk in listed.get(str(stage.pk), ()):
                items[item_pk] |= set(list_columns(stage))
    if items:
        for pk, customer_id, deal_id in HandoverItem.objects.filter(pk__in=list(items)).values_list(
            "pk", "customer_id", "stage__deal_id"
        ):
            per_customer[str(customer_id)] |= items[str(pk)]
            per_deal[str(customer_id)].add(str(deal_id))
    if stages:
        for stage_id, customer_id, deal_id in HandoverItem.objects.filter(
            stage_id__in=list(stages)
        ).values_list("stage_id", "customer_id", "stage__deal_id"):
            per_customer[str(customer_id)] |= stages[str(stage_id)]
            per_deal[str(customer_id)].add(str(deal_id))
    result.customers = dict(per_customer)
    result.deals = dict(per_deal)
    return result


# --- the clock ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    """One notification duty with its due time and whether it was met."""

    code: str
    label: str
    due: dt.datetime
    done_at: dt.datetime | None

    @property
    def seconds_left(self) -> int:
        return int((self.due - timezone.now()).total_seconds())

    @property
    def state(self) -> str:
        if self.done_at is not None:
            return "met" if self.done_at <= self.due else "late"
        return "overdue" if self.seconds_left < 0 else "running"

    @property
    def remaining(self) -> str:
        seconds = abs(self.seconds_left)
        hours, minutes = seconds // 3600, seconds % 3600 // 60
        return _("{hours} h {minutes} min").format(hours=hours, minutes=minutes)


def deadlines(incident: Incident) -> list[Deadline]:
    """GDPR art. 33 (72 hours to the authority) and PIPL art. 57 (without delay), in hours
    from detection as configured in ``TRANSFERDESK_INCIDENT_DEADLINES``."""
    hours = getattr(settings, "TRANSFERDESK_INCIDENT_DEADLINES", {})
    gdpr_hours = hours.get("gdpr_authority", 72)
    return [
        Deadline(
            code="gdpr_authority",
            label=_("GDPR art. 33: notify the supervisory authority within {hours} hours").format(
                hours=gdpr_hours
            ),
            due=incident.detected_at + dt.timedelta(hours=gdpr_hours),
            done_at=incident.authority_notified_at,
        ),
        Deadline(
            code="pipl_authority",
            label=_("PIPL art. 57: notify the authority and the people without delay"),
            due=incident.detected_at + dt.timedelta(hours=hours.get("pipl_authority", 24)),
            done_at=_when_all_done(incident.authority_notified_at, incident.customers_notified_at),
        ),
    ]


#: Clock codes in notifications (language-neutral: the law's name).
CLOCK_NAMES = {"gdpr_authority": "GDPR", "pipl_authority": "PIPL"}


def incidents_clock_notify(*, now: dt.datetime | None = None) -> int:
    """Beat task body: tell every officer when an open duty of an incident that is not
    closed has used half, and again 90 %, of its time; once per duty and mark (a duty found
    past 90 % at once is told that only). Returns how many notifications went."""
    from django.urls import reverse

    from notifications.choices import Kind
    from notifications.models import Notification
    from notifications.recipients import officers
    from notifications.services import notify

    now = now or timezone.now()
    told = 0
    for incident in Incident.objects.exclude(status=IncidentStatus.CLOSED).order_by("pk"):
        url = reverse("lifecycle:incident_detail", args=[incident.pk])
        for deadline in deadlines(incident):
            if deadline.done_at is not None:
                continue
            span = (deadline.due - incident.detected_at).total_seconds()
            used = (now - incident.detected_at).total_seconds() / span if span > 0 else 1
            kind = Kind.INCIDENT_90 if used >= 0.9 else Kind.INCIDENT_HALF if used >= 0.5 else None
            if kind is None:
                continue
            with transaction.atomic():
                if Notification.objects.filter(
                    kind=kind, url=url, params__clock=CLOCK_NAMES[deadline.code]
                ).exists():
                    continue
                told += len(
                    notify(
                        recipients=officers(),
                        kind=kind,
                        url=url,
                        params={
                            "incident": incident.reference,
                            "clock": CLOCK_NAMES[deadline.code],
                            "due": timezone.localtime(deadline.due).strftime("%Y-%m-%d %H:%M"),
                        },
                    )
                )
    return told


def _when_all_done(*values: dt.datetime | None) -> dt.datetime | None:
    """The moment the last of several duties was done, or None while one is still open."""
    present = [v for v in values if v is not None]
    return max(present) if len(present) == len(values) else None


# --- notices to the people affected ----------------------------------------------------------


def _link_deals(found: Affected, organizations: dict[str, Any]) -> dict[str, Any]:
    """The deal whose personal link each customer's notice carries: a deal of the customer's
    own book that the access events named (the first by id, for a stable choice); none when
    the reads named no such deal (the notice then gives the contact alone)."""
    named = {ref for refs in found.deals.values() for ref in refs}
    seller_of = {
        str(pk): seller
        for pk, seller in TransferDeal.objects.filter(pk__in=list(named)).values_list(
            "pk", "seller_id"
        )
    }
    chosen: dict[str, Any] = {}
    for customer_id, organization_id in organizations.items():
        own = sorted(
            ref for ref in found.deals.get(customer_id, ()) if seller_of.get(ref) == organization_id
        )
        chosen[customer_id] = own[0] if own else None
    return chosen


@transaction.atomic(durable=True)
def incident_notices_prepare(*, actor: Any, incident: Incident) -> Any:
    """Prepare the notice to the people affected as a campaign of the notice machinery:
    one notice per customer the access log shows exposed (still on record), each with the
    fields read, in the customer's language, with their personal link where a deal of their
    book gives one. Another compliance officer approves it (four eyes); sending then runs as
    a job with progress, failure reasons and the letter-or-call list."""
    _require_compliance(actor)
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if incident.notice_campaigns.exists():
        raise ValidationError(_("This incident already has its notices."))
    found = affected(incident)
    organizations: dict[str, Any] = {}
    languages: dict[str, int] = defaultdict(int)
    for pk, organization_id, language in Customer.objects.filter(
        pk__in=list(found.customers)
    ).values_list("pk", "organization_id", "preferred_language"):
        organizations[str(pk)] = organization_id
        languages[site_language(language)] += 1
    if not organizations:
        raise ValidationError(_("Nobody to notify: the access log shows no customer on record."))
    _refuse_missing_texts(incident, languages)
    link_deals = _link_deals(found, organizations)
    recipients = [
        notices.IncidentRecipient(
            customer_id=uuid.UUID(customer_id),
            fields=tuple(sorted(found.customers[customer_id])),
            link_deal_id=link_deals[customer_id],
        )
        for customer_id in sorted(organizations)
    ]
    campaign = notices.incident_campaign_create(
        actor=actor, incident=incident, recipients=recipients
    )
    record_event(
        action=AuditAction.INCIDENT,
        actor=actor,
        obj=incident,
        details={
            "step": "notices_prepared",
            "campaign": str(campaign.pk),
            "notices": len(recipients),
            # Customers in the log but no longer on record (erased since): nobody to tell.
            "erased": len(found.customers) - len(recipients),
        },
    )
    return campaign


def notice_counts(campaign: Any) -> dict[str, int]:
    """How many of a campaign's notices are in each status (every status present)."""
    counts = dict(campaign.notices.values_list("status").annotate(n=Count("pk")).order_by())
    return {status.value: counts.get(status.value, 0) for status in NoticeStatus}


@receiver(incident_notices_progressed, dispatch_uid="audits_incident_notices_progressed")
def _incident_notices_progressed(sender: Any, campaign: Any, actor: Any, **_: Any) -> None:
    incident_notices_update(campaign=campaign, actor=actor)


def incident_notices_update(*, campaign: Any, actor: Any) -> None:
    """Called by the notice machinery (``transfers.notices.incident_notices_progressed``), in
    its transaction, when sending ends or a letter or call is recorded: the incident counts
    the people told, and once nobody is left waiting (every notice sent, or done by letter or
    phone) the customers' clock stops, as an event."""
    counts = notice_counts(campaign)
    told = counts["sent"] + counts["manual_done"]
    waiting = counts["pending"] + counts["failed"] + counts["manual"]
    Incident.objects.filter(pk=campaign.incident_id).update(notices_sent=told)
    if waiting:
        return
    stopped = Incident.objects.filter(
        pk=campaign.incident_id, customers_notified_at__isnull=True
    ).update(customers_notified_at=timezone.now())
    if stopped:
        record_event(
            action=AuditAction.INCIDENT,
            actor=actor,
            object_type=Incident._meta.label_lower,
            object_id=campaign.incident_id,
            details={
                "step": "customers_notified",
                "campaign": str(campaign.pk),
                "sent": counts["sent"],
                "by_letter_or_phone": counts["manual_done"],
            },
        )


def notice_preview(incident: Incident, *, language: str) -> dict[str, Any]:
    """The context of the notice e-mail as a customer sees it, with a placeholder name and
    link and every field the incident exposed (no one's data)."""
    found = affected(incident)
    # The notice is signed by the customer's organisation; the preview shows the first one's.
    organization = Organization.objects.filter(
        pk__in=Customer.objects.filter(pk__in=list(found.customers)).values("organization_id")
    ).first()
    with translation.override(language):
        return {
            **notices.incident_notice_context(
                incident=incident,
                fields=found.fields,
                organization=organization,
                url=notices.public_url("/n/…/"),
            ),
            "name": _("[customer name]"),
            "language": language,
        }


# --- the regulator report ---------------------------------------------------------------------


def _notices_fact(incident: Incident) -> str:
    campaign = incident.notice_campaigns.first()
    if campaign is None:
        return _("Not prepared yet")
    counts = notice_counts(campaign)
    return _(
        "{status}: {sent} sent by e-mail, {done} told by letter or phone, {failed} failed, "
        "{manual} waiting for a letter or call, {pending} not sent yet"
    ).format(
        status=campaign.get_status_display(),
        sent=counts["sent"],
        done=counts["manual_done"],
        failed=counts["failed"],
        manual=counts["manual"],
        pending=counts["pending"],
    )


def incident_report_pdf(*, actor: Any, incident: Incident) -> bytes:
    """The report to the supervisory authority (GDPR art. 33(3) contents), as evidence PDF."""
    from transferdesk.pdf import EvidenceDocument, ReportMeta, para, table_chunks, title_page

    _require_compliance(actor)
    found = affected(incident)
    # The free texts in the report's language; English when no Chinese version was written.
    language = translation.get_language() or settings.LANGUAGE_CODE
    texts = {
        name: incident.text(name, language) or incident.text(name, "en") for name in INCIDENT_TEXTS
    }
    head = chain_head()
    title = _("Personal data breach report {reference}").format(reference=incident.reference)
    meta = ReportMeta(
        title=title,
        generated_by=actor.get_username(),
        generated_at=timezone.now(),
        chain_head=f"{head.seq}:{head.mac[:32]}",
    )
    facts: list[tuple[str, object]] = [
        (_("Detected"), f"{incident.detected_at:%Y-%m-%d %H:%M %Z}"),
        (_("Reported by"), incident.reported_by.get_username()),
        (_("Severity"), incident.get_severity_display()),
        (_("Status"), incident.get_status_display()),
        (
            _("Access window"),
            f"{incident.window_start:%Y-%m-%d %H:%M} - {incident.window_end:%Y-%m-%d %H:%M %Z}",
        ),
        (_("Deals"), ", ".join(d.reference for d in incident.deals.all()) or "-"),
        (_("People affected"), len(found.customers)),
        (_("Categories of data"), ", ".join(field_labels(found.fields)) or "-"),
        (_("Access events examined"), found.events),
        (_("Notices to the people affected"), _notices_fact(incident)),
        (_("Contact"), texts["contact"] or "-"),
    ]

    def flowables() -> Iterator[Any]:
        yield from title_page(title, _("Notification to the supervisory authority"), facts)
        yield para(_("What happened"), "h2", bold=True)
        yield para(texts["description"])
        yield para(_("Measures taken or proposed"), "h2", bold=True)
        yield para(texts["measures"] or "-")
        yield para(_("Deadlines"), "h2", bold=True)
        yield from table_chunks(
            [_("Duty"), _("Due"), _("Done")],
            (
                (d.label, f"{d.due:%Y-%m-%d %H:%M %Z}", f"{d.done_at:%Y-%m-%d %H:%M}" if d.done_at
                 else "-")
                for d in deadlines(incident)
            ),
        )  # fmt: skip
        yield para(_("Customers affected (record ids) and fields"), "h2", bold=True)
        yield from table_chunks(
            [_("Customer record"), _("Fields")],
            ((pk, ", ".join(field_labels(names))) for pk, names in sorted(found.customers.items())),
        )

    buffer = io.BytesIO()
    EvidenceDocument(buffer, meta).build_stream(flowables())
    pdf = buffer.getvalue()
    record_event(
        action=AuditAction.REPORT_GENERATED,
        actor=actor,
        obj=incident,
        details={"report": "incident_report", "affected": len(found.customers)},
    )
    return pdf


__all__ = [
    "ACCESS_ACTIONS",
    "Affected",
    "Deadline",
    "affected",
    "deadlines",
    "incident_create",
    "incident_notices_prepare",
    "incident_notices_update",
    "incident_report_pdf",
    "incident_set_status",
    "incident_set_texts",
    "language_name",
    "missing_texts",
    "notice_counts",
    "notice_preview",
]
