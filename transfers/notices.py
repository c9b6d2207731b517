"""Transfer notices: campaigns, personal links, sending in batches, consent to a new purpose.

PIPL art. 22 and GDPR art. 13/14 require telling every customer who the new holder of their
data is. A broker prepares a campaign, a compliance officer who did not prepare it approves it,
and sending runs as a job on the ``maintenance`` queue: notices go out in batches, each notice
records its channel, time and any delivery failure (SMTP codes, never the address), and
customers with no usable e-mail address are listed for a letter or a call, never skipped.
Sending opens the deal's notice period; the deadline set here closes the objection window that
identified stages wait for (``TransferDeal.notice_window_closed`` reads the deal fields this
module fills).
"""

from __future__ import annotations

import logging
import smtplib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, QuerySet
from django.dispatch import Signal
from django.template.loader import get_template
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.translation import gettext_lazy as _

from accounts.choices import Role
from accounts.languages import site_language
from customers.choices import CustomerStatus, Tier
from customers.labels import field_labels
from customers.models import Customer
from transferdesk import jobs
from transferdesk.public_url import public_url
from transferdesk.trail import AuditAction, record_event

from .choices import DealStatus, StageKind, StageStatus
from .models import HandoverStage, TransferDeal
from .notice_models import (
    CampaignKind,
    CampaignStatus,
    ConsentRecord,
    Notice,
    NoticeCampaign,
    NoticeChannel,
    NoticeLink,
    NoticeStatus,
    RequestSource,
)
from .recipients import tell_campaign_prepared
from .selectors import deal_customers, eligible, stage_selection

#: Sent inside the transaction that ends an incident campaign's sending or records one of its
#: letters or calls: ``audits`` (an upper layer) listens, counts the people told and stops the
#: incident's clock once nobody is left waiting; transfers does not import it. Sent with
#: ``send``, so a failing receiver rolls the change back. Arguments: ``campaign``, ``actor``.
incident_notices_progressed = Signal()

logger = logging.getLogger(__name__)

LINK_SALT = "transfers.notice-link"
JOB_KIND = "notice_campaign"

#: What each tier of a stage carries, in the words of the notice (the categories of DESIGN.md).
TIER_CATEGORIES = {
    Tier.GENERAL: "general",
    Tier.SENSITIVE: "sensitive",
    Tier.CORE: "core",
}
CATEGORY_LABELS = {
    "general": _("Basic details (segment, city, country, customer since)"),
    "sensitive": _(
        "Contact details, purchase and interaction records, preferences and personal needs"
    ),
    "core": _("Identity document and bank account numbers"),
    "aggregate": _("Statistics only (counts by segment; nobody can be identified)"),
}


class LinkInvalid(Exception):
    """A personal link that must show no data; ``reason`` picks the page the customer sees."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def link_max_age() -> timedelta:
    """How long a personal link works: long enough to outlast the objection window and the
    legal answer time of a request made at its end."""
    return timedelta(days=getattr(settings, "NOTICE_LINK_MAX_AGE_DAYS", 120))


def batch_size() -> int:
    return int(getattr(settings, "NOTICE_BATCH_SIZE", 500))


#: Where a customer with no language on record most likely reads Simplified Chinese.
SIMPLIFIED_CHINESE_COUNTRIES = frozenset({"CN", "SG"})


def language_of(customer: Customer) -> str:
    """The language of what a customer is sent (e-mails, letters): their stored preference,
    Chinese for ``zh*``; with none on record (a seller's export without a language column),
    Simplified Chinese where the customer lives in, or the seller is in, mainland China or
    Singapore, English elsewhere. (The customer's page follows their browser instead.)"""
    if customer.preferred_language:
        return site_language(customer.preferred_language)
    country = customer.country or customer.organization.country
    return "zh-hans" if country.upper() in SIMPLIFIED_CHINESE_COUNTRIES else "en"


# --- links ---------------------------------------------------------------------------------


def field_label(name: str) -> str:
    """The translated label of a customer field, for pages and forms."""
    return str(getattr(Customer._meta.get_field(name), "verbose_name", name))


def link_token(link: NoticeLink) -> str:
    """The signed, timestamped token of a link: only the link's id travels, never personal
    data, and the row decides the customer and the deal."""
    return signing.dumps(str(link.pk), salt=LINK_SALT, compress=False)


def link_url(link: NoticeLink, *, prefix: str | None = None) -> str:
    """The absolute link; a campaign passes ``prefix`` (from ``link_prefix``) to skip a URL
    reversal per customer."""
    if prefix is None:
        prefix = link_prefix()
    return f"{prefix}{link_token(link)}/"


def link_prefix() -> str:
    marker = "TDTOKEN"
    return public_url(reverse("notice:page", kwargs={"token": marker})).rsplit(marker, 1)[0]


def link_resolve(token: str) -> NoticeLink:
    """The link a token names, or ``LinkInvalid`` ("tampered", "expired" or "revoked")."""
    try:
        link_id = signing.loads(token, salt=LINK_SALT, max_age=link_max_age())
    except signing.SignatureExpired:
        raise LinkInvalid("expired") from None
    except signing.BadSignature:
        raise LinkInvalid("tampered") from None
    try:
        link = NoticeLink.objects.select_related(
            "customer", "customer__data_key", "customer__organization", "deal", "deal__buyer"
        ).get(pk=uuid.UUID(str(link_id)))
    except (NoticeLink.DoesNotExist, ValueError):
        raise LinkInvalid("tampered") from None
    if link.revoked_at is not None:
        raise LinkInvalid("revoked")
    if link.expires_at <= timezone.now():
        raise LinkInvalid("expired")
    if link.customer is None or link.customer.status == CustomerStatus.ERASED:
        raise LinkInvalid("revoked")
    return link


def _new_link(deal: TransferDeal, customer_id: Any, channel: str, actor: Any) -> NoticeLink:
    return NoticeLink(
        deal=deal,
        customer_id=customer_id,
        channel=channel,
        issued_by=actor if getattr(actor, "is_authenticated", False) else None,
        expires_at=timezone.now() + link_max_age(),
    )


def _usable_links(deal: TransferDeal, customer_ids: Iterable[Any]) -> dict[Any, NoticeLink]:
    links: dict[Any, NoticeLink] = {}
    for link in NoticeLink.objects.filter(
        deal=deal,
        customer_id__in=list(customer_ids),
        revoked_at__isnull=True,
        expires_at__gt=timezone.now() + timedelta(days=1),
    ).order_by("issued_at"):
        links[link.customer_id] = link
    return links


@transaction.atomic(durable=True)
def link_issue(
    *, actor: Any, deal: TransferDeal, customer: Customer, channel: str = NoticeChannel.LETTER
) -> NoticeLink:
    """A fresh personal link for a letter or a phone call; earlier links of the customer for
    this deal are revoked, so only the newest one works. The issue is an audit event."""
    if customer.organization_id != deal.seller_id:
        raise ValidationError(_("This customer is not in the deal's customer book."))
    now = timezone.now()
    revoked = NoticeLink.objects.filter(
        deal=deal, customer=customer, revoked_at__isnull=True
    ).update(revoked_at=now)
    link = _new_link(deal, customer.pk, channel, actor)
    link.save(force_insert=True)
    record_event(
        action=AuditAction.CREATE,
        actor=actor,
        obj=link,
        deal=deal,
        details={"customer": customer.pk, "channel": str(channel), "revoked_earlier": revoked},
    )
    return link


@transaction.atomic(durable=True)
def link_revoke(*, actor: Any, link: NoticeLink) -> NoticeLink:
    """Stop a link at once (lost letter, wrong address): it then shows the "revoked" page."""
    NoticeLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    link.refresh_from_db()
    record_event(
        action=AuditAction.REVOKE,
        actor=actor,
        obj=link,
        deal=link.deal_id,
        details={"customer": link.customer_id},
    )
    return link


# --- campaigns -----------------------------------------------------------------------------


def _plan(deal: TransferDeal) -> tuple[list[str], list[dict[str, Any]]]:
    """The categories and stages a notice announces, from the stages planned so far."""
    stages = deal.stages.exclude(status__in=(StageStatus.CANCELLED, StageStatus.REJECTED)).order_by(
        "order"
    )
    categories: list[str] = []
    planned = []
    for stage in stages:
        names = (
            ["aggregate"]
            if stage.kind == StageKind.AGGREGATE
            else [TIER_CATEGORIES[Tier(t)] for t in stage.tier_scope]
        )
        categories += [c for c in names if c not in categories]
        planned.append({"order": stage.order, "name": stage.name, "kind": stage.kind})
    return categories, planned


def purpose_differs(deal: TransferDeal) -> bool:
    """Whether the buyer's declared purposes leave out a purpose the data was collected for.

    A collection purpose the buyer's declaration does not repeat counts as changed: free text
    cannot prove two purposes equal, so the comparison leans to asking for consent.
    """
    declared = " ".join(deal.purposes.lower().split())
    purposes = (
        deal_customers(deal)
        .exclude(collection_purpose="")
        .values_list("collection_purpose", flat=True)
        .distinct()
    )
    return any(" ".join(p.lower().split()) not in declared for p in purposes)


def deal_purpose_changed(deal: TransferDeal) -> bool:
    """The deal's flag: set by the latest campaign (the broker may set it too), or computed."""
    campaign = deal.notice_campaigns.order_by("-prepared_at").first()
    if campaign is not None:
        return campaign.purpose_changed
    return purpose_differs(deal)


def told_customers(deal: TransferDeal, *, at: datetime | None = None) -> QuerySet[Notice, Any]:
    """Ids of the customers a transfer notice of ``deal`` reached (sent, or notified by letter
    or phone) and whose objection deadline has passed: the only customers an identified stage
    may hand over (PIPL art. 22; GDPR art. 13/14)."""
    return Notice.objects.filter(
        campaign__deal=deal,
        campaign__kind=CampaignKind.TRANSFER,
        campaign__objection_deadline__lte=at or timezone.now(),
        status__in=(NoticeStatus.SENT, NoticeStatus.MANUAL_DONE),
    ).values("customer_id")


def untold_count(deal: TransferDeal, customers: QuerySet[Customer]) -> int:
    """How many of ``customers`` have not been told of ``deal`` with their window closed.

    Customer by customer: a customer with no notice at all (imported after the campaign) is
    untold as much as one whose e-mail failed. One set-based query, whatever the number of
    customers: ``NOT EXISTS`` (an anti-join on the notices' (campaign, customer) index) rather
    than ``NOT IN``, which over a nullable column cannot become a join and, once the notices
    outgrow ``work_mem``, is re-run for every customer.
    """
    told = told_customers(deal).filter(customer_id=OuterRef("pk"))
    return customers.exclude(Exists(told)).count()


def identified_stage_refusal(
    stage: HandoverStage, customers: QuerySet[Customer] | None = None
) -> str | None:
    """What the notices still owe an identified stage: every customer it hands over told
    (a failed e-mail, a letter not yet sent or no notice at all is not a notice) with their
    objection deadline passed, and consent where the purpose changed.
    ``services.approval_refusal`` asks this after the objection window; ``stage_approve``
    asks it again of the population it freezes (``customers``)."""
    if stage.kind != StageKind.IDENTIFIED:
        return None
    population = eligible(stage_selection(stage)) if customers is None else customers
    untold = untold_count(stage.deal, population)
    if untold:
        return str(
            _(
                "{count} customer(s) in this stage have not been told yet or their objection "
                "window is still open (no notice reached them: imported after the notices, "
                "delivery failed, or a letter or call is outstanding)."
            ).format(count=untold)
        )
    return consent_refusal(stage, population)


def consent_refusal(
    stage: HandoverStage, customers: QuerySet[Customer] | None = None
) -> str | None:
    """Why an identified stage of a deal with a changed purpose cannot be approved yet: some
    customers it would hand over have no recorded consent (PIPL art. 22, last sentence)."""
    if stage.kind != StageKind.IDENTIFIED or not deal_purpose_changed(stage.deal):
        return None
    missing = (
        (eligible(stage_selection(stage)) if customers is None else customers)
        .exclude(pk__in=ConsentRecord.objects.filter(deal=stage.deal).values("customer_id"))
        .count()
    )
    if not missing:
        return None
    return str(
        _(
            "The buyer's purpose differs from the purpose of collection: {count} customer(s) "
            "in this stage have not consented to the new purpose."
        ).format(count=missing)
    )


def _can(actor: Any, deal: TransferDeal, action: str) -> bool:
    return TransferDeal.objects.restrict(actor, action).filter(pk=deal.pk).exists()


def told_deadline(deal: TransferDeal, *, customer_id: Any = None) -> datetime | None:
    """The latest objection deadline the deal's customers were told (a campaign sent or
    being sent); with ``customer_id``, the latest told to that customer, falling back to the
    deal's when no campaign has reached them yet.

    A deadline once told can only move later: it is what a customer relies on to decide, so
    the effective deadline is the latest one told, and a new campaign may extend it, never
    shorten it (``campaign_prepare`` and ``campaign_send`` refuse)."""
    sent = NoticeCampaign.objects.filter(
        deal=deal,
        status__in=(CampaignStatus.SENDING, CampaignStatus.SENT),
        objection_deadline__isnull=False,
    )
    if customer_id is not None:
        own = sent.filter(notices__customer_id=customer_id).aggregate(m=Max("objection_deadline"))
        if own["m"] is not None:
            return own["m"]
    latest: datetime | None = sent.aggregate(m=Max("objection_deadline"))["m"]
    return latest


def _refuse_shorter(deal: TransferDeal, objection_deadline: datetime) -> None:
    told = told_deadline(deal)
    if told is not None and objection_deadline < told:
        raise ValidationError(
            {
                "objection_deadline": _(
                    "Customers were already told they can object until {deadline}. A deadline "
                    "once told can only move later: choose {deadline} or later."
                ).format(deadline=deadline_text(told))
            }
        )


@transaction.atomic(durable=True)
def campaign_prepare(
    *,
    actor: Any,
    deal: TransferDeal,
    objection_deadline: datetime,
    purpose_changed: bool = False,
) -> NoticeCampaign:
    """A broker prepares the notices: deadline, categories and stages as planned now."""
    if not _can(actor, deal, "plan"):
        raise PermissionDenied(_("Only a broker of the deal can prepare its notices."))
    if deal.status in (DealStatus.COMPLETED, DealStatus.CANCELLED):
        raise ValidationError(_("The deal is closed."))
    minimum = timezone.now() + timedelta(days=getattr(settings, "NOTICE_MIN_OBJECTION_DAYS", 7))
    if objection_deadline < minimum:
        raise ValidationError(
            {
                "objection_deadline": _("Customers need at least {days} days to object.").format(
                    days=getattr(settings, "NOTICE_MIN_OBJECTION_DAYS", 7)
                )
            }
        )
    _refuse_shorter(deal, objection_deadline)
    categories, planned = _plan(deal)
    campaign = NoticeCampaign(
        deal=deal,
        objection_deadline=objection_deadline,
        categories=categories,
        stages_planned=planned,
        purpose_changed=purpose_changed or purpose_differs(deal),
        prepared_by=actor,
    )
    # An empty plan is valid (notices may precede the stage planning): the lists are built
    # here, not typed in, so only the other fields need validating.
    campaign.full_clean(exclude=["categories", "stages_planned"])
    campaign.save(force_insert=True)
    record_event(
        action=AuditAction.CREATE,
        actor=actor,
        obj=campaign,
        deal=deal,
        details={"step": "prepared", "purpose_changed": campaign.purpose_changed},
    )
    tell_campaign_prepared(campaign, actor=actor)
    return campaign


def approval_refusal(*, actor: Any, campaign: NoticeCampaign) -> str | None:
    if not actor.has_role(Role.COMPLIANCE):
        return str(_("Only a compliance officer can approve notices."))
    if campaign.prepared_by_id == actor.pk:
        return str(_("You prepared these notices; another compliance officer must approve them."))
    if campaign.status != CampaignStatus.DRAFT:
        return str(_("Only prepared notices can be approved."))
    return None


@transaction.atomic(durable=True)
def campaign_approve(*, actor: Any, campaign: NoticeCampaign) -> NoticeCampaign:
    """Four eyes: a compliance officer who did not prepare the campaign approves it."""
    refusal = approval_refusal(actor=actor, campaign=campaign)
    if refusal:
        if campaign.status != CampaignStatus.DRAFT:
            raise ValidationError(refusal)
        raise PermissionDenied(refusal)
    updated = NoticeCampaign.objects.filter(pk=campaign.pk, status=CampaignStatus.DRAFT).update(
        status=CampaignStatus.APPROVED, approved_by=actor, approved_at=timezone.now()
    )
    if updated != 1:
        raise ValidationError(_("The notices have changed meanwhile; reload the page."))
    campaign.refresh_from_db()
    record_event(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=campaign,
        deal=campaign.deal_id,
        details={"step": "approved"},
    )
    return campaign


@transaction.atomic(durable=True)
def campaign_send(*, actor: Any, campaign: NoticeCampaign) -> jobs.Job:
    """Start sending: one notice row per customer, the deal's notice period opens, and the
    job runs after commit on the ``maintenance`` queue."""
    if campaign.kind == CampaignKind.INCIDENT:
        return _incident_send(actor=actor, campaign=campaign)
    assert campaign.deal_id is not None  # a transfer campaign belongs to a deal (constraint)
    deal = TransferDeal.objects.select_for_update().get(pk=campaign.deal_id)
    if not (_can(actor, deal, "plan") or actor.has_role(Role.COMPLIANCE)):
        raise PermissionDenied
    # Prepared before another campaign told a later deadline: sending it would shorten it.
    assert campaign.objection_deadline is not None  # a transfer campaign sets one (constraint)
    _refuse_shorter(deal, campaign.objection_deadline)
    updated = NoticeCampaign.objects.filter(pk=campaign.pk, status=CampaignStatus.APPROVED).update(
        status=CampaignStatus.SENDING, sent_at=timezone.now()
    )
    if updated != 1:
        raise ValidationError(_("Only approved notices can be sent, and only once."))
    campaign.refresh_from_db()
    customers = deal_customers(deal).exclude(status=CustomerStatus.ERASED)
    rows = [
        Notice(
            campaign=campaign,
            customer_id=pk,
            language=site_language(lang),
            channel=NoticeChannel.EMAIL if bidx else NoticeChannel.LETTER,
            # The blind index says whether an address exists without decrypting it.
            status=NoticeStatus.PENDING if bidx else NoticeStatus.MANUAL,
        )
        for pk, bidx, lang in customers.values_list("pk", "email_bidx", "preferred_language")
    ]
    Notice.objects.bulk_create(rows, batch_size=2000)
    job = jobs.job_create(kind=JOB_KIND, actor=actor, total=len(rows), obj=campaign)
    NoticeCampaign.objects.filter(pk=campaign.pk).update(job=job)
    campaign.job = job
    fields: dict[str, Any] = {
        "notices_sent_at": timezone.now(),
        "objection_window_closes_at": campaign.objection_deadline,
    }
    if deal.status == DealStatus.DRAFT:
        fields["status"] = DealStatus.NOTICE_PERIOD
    TransferDeal.objects.filter(pk=deal.pk).update(**fields)
    record_event(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=campaign,
        deal=deal,
        details={
            "step": "sending",
            "notices": len(rows),
            "manual": sum(1 for r in rows if r.status == NoticeStatus.MANUAL),
            "job": job.pk,
        },
    )
    campaign_id, job_id = campaign.pk, job.pk
    transaction.on_commit(lambda: enqueue_campaign(campaign_id, job_id))
    return job


@transaction.atomic(durable=True)
def campaign_resend(*, actor: Any, campaign: NoticeCampaign) -> jobs.Job:
    """Send the failed notices again (after the address was corrected, or the server was
    down): they go back to pending and a new job sends them."""
    deal = campaign.deal
    if not ((deal is not None and _can(actor, deal, "plan")) or actor.has_role(Role.COMPLIANCE)):
        raise PermissionDenied
    if campaign.status not in (CampaignStatus.SENT, CampaignStatus.SENDING):
        raise ValidationError(_("Only sent notices can be sent again."))
    failed = Notice.objects.filter(campaign=campaign, status=NoticeStatus.FAILED)
    # A customer whose address was removed meanwhile goes to the manual list instead.
    failed.filter(customer__email_bidx="").update(
        status=NoticeStatus.MANUAL, channel=NoticeChannel.LETTER
    )
    count = failed.update(status=NoticeStatus.PENDING)
    if not count:
        raise ValidationError(_("There is no failed notice to send again."))
    job = jobs.job_create(kind=JOB_KIND, actor=actor, total=count, obj=campaign)
    NoticeCampaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING, job=job)
    record_event(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=campaign,
        deal=campaign.deal_id,
        details={"step": "resend", "notices": count, "job": job.pk},
    )
    campaign_id, job_id = campaign.pk, job.pk
    transaction.on_commit(lambda: enqueue_campaign(campaign_id, job_id))
    return job


@transaction.atomic(durable=True)
def notice_mark_manual_done(*, actor: Any, notice: Notice, channel: str) -> Notice:
    """Record that a customer without a usable address was told by letter or by phone."""
    updated = Notice.objects.filter(
        pk=notice.pk, status__in=(NoticeStatus.MANUAL, NoticeStatus.FAILED)
    ).update(status=NoticeStatus.MANUAL_DONE, channel=channel, sent_at=timezone.now())
    if updated != 1:
        raise ValidationError(_("This notice is not waiting for a manual notice."))
    notice.refresh_from_db()
    record_event(
        action=AuditAction.NOTICE_SENT,
        actor=actor,
        obj=notice,
        deal=notice.campaign.deal_id,
        details={"channel": str(channel), "customer": notice.customer_id},
    )
    if notice.campaign.kind == CampaignKind.INCIDENT:
        incident_notices_progressed.send(
            sender=NoticeCampaign, campaign=notice.campaign, actor=actor
        )
    return notice


def enqueue_campaign(campaign_id: Any, job_id: Any) -> bool:
    """Hand the campaign to a worker; without a broker the task runs in-process.

    A broker that is down is logged, not raised: the campaign row says "sending" with a queued
    job, and ``sweep_campaigns`` (beat) enqueues it again.
    """
    return jobs.enqueue(
        "transfers.notice_tasks.notice_campaign_send", str(campaign_id), str(job_id)
    )


def sweep_campaigns(*, older_than: timedelta = timedelta(minutes=10)) -> int:
    """Re-enqueue campaigns whose job never started (a lost message or a broker that was down
    at commit); sending is idempotent, so a duplicate message only finds nothing pending."""
    stale = NoticeCampaign.objects.filter(
        status=CampaignStatus.SENDING,
        job__status=jobs.JobStatus.QUEUED,
        job__created_at__lt=timezone.now() - older_than,
    ).values_list("pk", "job_id")
    return sum(enqueue_campaign(pk, job_id) for pk, job_id in stale)


# --- sending -------------------------------------------------------------------------------


def deadline_text(moment: datetime) -> str:
    """The deadline in the active language's date format and a 24-hour time: English's
    "p.m." would end the sentence in two full stops."""
    local = timezone.localtime(moment)
    return f"{date_format(local, 'DATE_FORMAT')} {local:%H:%M}"


def notice_context(*, deal: TransferDeal, campaign: NoticeCampaign, url: str) -> dict[str, Any]:
    """What every notice says (the customer's name is added per message)."""
    buyer = deal.buyer
    deadline = campaign.objection_deadline
    assert deadline is not None  # a transfer campaign sets one (constraint)
    return {
        "deal": deal,
        "buyer": buyer,
        "seller": deal.seller,
        "purposes": deal.purposes,
        "legal_basis": deal.legal_basis,
        "categories": [CATEGORY_LABELS[c] for c in campaign.categories if c in CATEGORY_LABELS],
        "stages": campaign.stages_planned,
        "deadline": deadline,
        "deadline_text": deadline_text(deadline),
        "purpose_changed": campaign.purpose_changed,
        "url": url,
    }


#: Stand-ins rendered into a campaign's templates once, replaced per customer. The notice is
#: the same for every customer of a language but for the name and the link, and rendering two
#: templates per customer would dominate the time of a large campaign.
NAME_MARK = "TDNOTICENAMEMARK"
URL_MARK = "TDNOTICEURLMARK"


class NoticeRenderer:
    """Renders a campaign's notice once per language, then fills in each customer."""

    def __init__(self, *, deal: TransferDeal, campaign: NoticeCampaign) -> None:
        self.deal, self.campaign = deal, campaign
        self._rendered: dict[str, tuple[str, str, str]] = {}

    def _render(self, language: str) -> tuple[str, str, str]:
        if language not in self._rendered:
            with translation.override(language):
                context = {
                    **notice_context(deal=self.deal, campaign=self.campaign, url=URL_MARK),
                    "name": NAME_MARK,
                    "language": language,
                }
                subject = str(
                    _("Your customer data is being transferred to {buyer}").format(
                        buyer=self.deal.buyer.legal_name
                    )
                )
                text = get_template("notice/email/notice.txt").render(context)
                html = get_template("notice/email/notice.html").render(context)
            self._rendered[language] = (subject, text, html)
        return self._rendered[language]

    def build(self, *, customer: Customer, url: str) -> EmailMultiAlternatives:
        """The notice in the customer's language, plain text and HTML."""
        subject, text, html = self._render(language_of(customer))
        name = customer.full_name
        text = text.replace(NAME_MARK, name).replace(URL_MARK, url)
        html = html.replace(NAME_MARK, escape(name)).replace(URL_MARK, escape(url))
        message = EmailMultiAlternatives(subject, text, to=[customer.email])
        message.attach_alternative(html, "text/html")
        return message


def build_notice_email(
    *, customer: Customer, deal: TransferDeal, campaign: NoticeCampaign, url: str
) -> EmailMultiAlternatives:
    """One customer's notice (a campaign run reuses one ``NoticeRenderer`` instead)."""
    return NoticeRenderer(deal=deal, campaign=campaign).build(customer=customer, url=url)


def failure_reason(exc: Exception) -> str:
    """A delivery failure in words and codes an operator can act on, never the address."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(code) for code, _msg in exc.recipients.values()})
        return str(_("Recipient refused by the mail server (SMTP {codes})")).format(
            codes=", ".join(codes)
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return str(_("Mail server error (SMTP {code})")).format(code=exc.smtp_code)
    if isinstance(exc, smtplib.SMTPException):
        return str(_("Mail server error ({kind})")).format(kind=type(exc).__name__)
    if isinstance(exc, OSError):
        return str(_("The mail server could not be reached ({kind})")).format(
            kind=type(exc).__name__
        )
    return str(_("Unexpected error ({kind})")).format(kind=type(exc).__name__)


def campaign_run(*, campaign_id: Any, job_id: Any) -> dict[str, int]:
    """Send every pending notice of a campaign in batches; idempotent (a redelivered task only
    finds what is still pending). A batch whose commit is lost may e-mail its customers twice:
    a second identical notice is better than none."""
    campaign = NoticeCampaign.objects.select_related(
        "deal", "deal__buyer", "deal__seller", "incident"
    ).get(pk=campaign_id)
    deal = campaign.deal
    with jobs.job_running(job_id, error=_("Sending stopped: {kind}")) as running:
        total = jobs.Job.objects.values_list("total", flat=True).get(pk=job_id)
        # A resumed run counts what an earlier delivery of the message already did.
        pending = Notice.objects.filter(campaign=campaign, status=NoticeStatus.PENDING).count()
        done = max(0, total - pending)
        totals = {"sent": 0, "failed": 0}
        try:
            while True:
                batch = list(
                    Notice.objects.filter(campaign=campaign, status=NoticeStatus.PENDING)
                    .order_by("pk")
                    .values_list("pk", "customer_id")[: batch_size()]
                )
                if not batch:
                    break
                if deal is None:  # an incident's notices: no deal, a link per customer
                    sent, failed = _send_incident_batch(campaign, batch)
                else:
                    sent, failed = _send_batch(campaign, deal, batch)
                totals["sent"] += sent
                totals["failed"] += failed
                done += len(batch)
                running.progress(done)
        except Exception:
            logger.exception("notice campaign %s failed", campaign_id)
            raise
        with transaction.atomic():
            NoticeCampaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SENDING).update(
                status=CampaignStatus.SENT
            )
            record_event(
                action=AuditAction.NOTICE_SENT,
                obj=campaign,
                deal=deal,
                details={**totals, "job": str(job_id)},
            )
            if campaign.kind == CampaignKind.INCIDENT:
                starter = jobs.Job.objects.select_related("started_by").get(pk=job_id).started_by
                incident_notices_progressed.send(
                    sender=NoticeCampaign, campaign=campaign, actor=starter
                )
        running.result = totals
    return totals


def _send_batch(
    campaign: NoticeCampaign, deal: TransferDeal, batch: list[tuple[int, Any]]
) -> tuple[int, int]:
    customer_ids = [customer_id for _pk, customer_id in batch]
    customers = Customer.objects.with_data_keys().in_bulk(customer_ids)
    links = _usable_links(deal, customer_ids)
    missing = [
        _new_link(deal, cid, NoticeChannel.EMAIL, None)
        for cid in customer_ids
        if cid not in links and cid in customers
    ]
    NoticeLink.objects.bulk_create(missing)
    links.update({link.customer_id: link for link in missing})
    renderer = NoticeRenderer(deal=deal, campaign=campaign)
    prefix = link_prefix()

    def build(_notice_pk: int, customer: Customer) -> EmailMultiAlternatives:
        return renderer.build(customer=customer, url=link_url(links[customer.pk], prefix=prefix))

    return _deliver_batch(batch, customers, build)


def _deliver_batch(
    batch: list[tuple[int, Any]],
    customers: dict[Any, Customer],
    build: Callable[[int, Customer], EmailMultiAlternatives],
) -> tuple[int, int]:
    """Send a batch's notices over one mail connection and store the outcomes.

    ``build(notice_pk, customer)`` makes each message (the campaign kind's renderer and its
    per-notice arguments). A customer erased (or gone) since the notice was prepared is not
    written to; any failure to build or send is recorded against that notice alone."""
    sent: list[int] = []
    failed: dict[str, list[int]] = {}
    connection = get_connection()
    try:
        connection.open()
        for notice_pk, customer_id in batch:
            customer = customers.get(customer_id)
            if customer is None or customer.status == CustomerStatus.ERASED:
                failed.setdefault(str(_("The customer was erased meanwhile")), []).append(notice_pk)
                continue
            try:
                message = build(notice_pk, customer)
                message.connection = connection
                message.send()
            except Exception as exc:  # noqa: BLE001 - every failure is recorded per notice
                failed.setdefault(failure_reason(exc)[:255], []).append(notice_pk)
            else:
                sent.append(notice_pk)
    finally:
        connection.close()
    return _record_outcomes(sent, failed)


def _record_outcomes(sent: list[int], failed: dict[str, list[int]]) -> tuple[int, int]:
    """Store a batch's outcomes: one UPDATE per outcome (failures grouped by reason), not one
    per notice."""
    with transaction.atomic():
        Notice.objects.filter(pk__in=sent).update(
            status=NoticeStatus.SENT,
            failure_reason="",
            sent_at=timezone.now(),
            attempts=F("attempts") + 1,
        )
        for reason, pks in failed.items():
            Notice.objects.filter(pk__in=pks).update(
                status=NoticeStatus.FAILED,
                failure_reason=reason,
                sent_at=None,
                attempts=F("attempts") + 1,
            )
    failures = sum(len(pks) for pks in failed.values())
    return len(sent), failures


# --- incident notices ----------------------------------------------------------------------
#
# The same machinery tells the people an incident affected (GDPR art. 34; PIPL art. 57):
# ``audits.incidents.incident_notices_prepare`` derives who and which fields from the access
# log and hands the list to ``incident_campaign_create``; approval (four eyes), sending in
# batches as a job, failure reasons, the letter-or-call list and re-sending are the campaign's.


@dataclass(frozen=True)
class IncidentRecipient:
    """One person an incident affected: the fields the access log shows read (names only)
    and the deal whose personal link their notice carries, if any."""

    customer_id: Any
    fields: tuple[str, ...]
    link_deal_id: Any = None


def incident_campaign_create(
    *, actor: Any, incident: Any, recipients: Iterable[IncidentRecipient]
) -> NoticeCampaign:
    """A draft campaign of the incident kind with one notice per affected customer, each
    holding its fields; customers without an e-mail address go to the letter-or-call list.

    Runs inside the caller's transaction (``incident_notices_prepare``), which records the
    incident's own step; the campaign's preparation is an event of its own, as for any
    campaign."""
    if not actor.has_role(Role.COMPLIANCE):
        raise PermissionDenied(_("Only compliance officers prepare incident notices."))
    campaign = NoticeCampaign(kind=CampaignKind.INCIDENT, incident=incident, prepared_by=actor)
    campaign.full_clean(exclude=["categories", "stages_planned"])
    campaign.save(force_insert=True)
    recipients = list(recipients)
    contacts = {
        pk: (bidx, lang)
        for pk, bidx, lang in Customer.objects.filter(
            pk__in=[r.customer_id for r in recipients]
        ).values_list("pk", "email_bidx", "preferred_language")
    }
    rows = []
    for recipient in recipients:
        bidx, lang = contacts.get(recipient.customer_id, ("", ""))
        rows.append(
            Notice(
                campaign=campaign,
                customer_id=recipient.customer_id,
                language=site_language(lang),
                channel=NoticeChannel.EMAIL if bidx else NoticeChannel.LETTER,
                status=NoticeStatus.PENDING if bidx else NoticeStatus.MANUAL,
                fields=sorted(recipient.fields),
                link_deal_id=recipient.link_deal_id,
            )
        )
    Notice.objects.bulk_create(rows, batch_size=2000)
    record_event(
        action=AuditAction.CREATE,
        actor=actor,
        obj=campaign,
        details={
            "step": "prepared",
            "kind": CampaignKind.INCIDENT.value,
            "incident": str(incident.pk),
            "notices": len(rows),
            "manual": sum(1 for r in rows if r.status == NoticeStatus.MANUAL),
        },
    )
    tell_campaign_prepared(campaign, actor=actor)
    return campaign


def _incident_send(*, actor: Any, campaign: NoticeCampaign) -> jobs.Job:
    """Start sending an incident's notices (inside ``campaign_send``'s transaction): the
    channel is decided again from the records as they are now, then the job runs after
    commit on the ``maintenance`` queue."""
    if not actor.has_role(Role.COMPLIANCE):
        raise PermissionDenied(_("Only compliance officers send incident notices."))
    updated = NoticeCampaign.objects.filter(pk=campaign.pk, status=CampaignStatus.APPROVED).update(
        status=CampaignStatus.SENDING, sent_at=timezone.now()
    )
    if updated != 1:
        raise ValidationError(_("Only approved notices can be sent, and only once."))
    campaign.refresh_from_db()
    # An address added or removed since the notices were prepared moves the notice between
    # the e-mail and the letter-or-call lists (the blind index says so without decrypting).
    waiting = Notice.objects.filter(
        campaign=campaign, status__in=(NoticeStatus.PENDING, NoticeStatus.MANUAL)
    )
    waiting.filter(customer__email_bidx="").update(
        status=NoticeStatus.MANUAL, channel=NoticeChannel.LETTER
    )
    waiting.exclude(customer__email_bidx="").update(
        status=NoticeStatus.PENDING, channel=NoticeChannel.EMAIL
    )
    pending = Notice.objects.filter(campaign=campaign, status=NoticeStatus.PENDING).count()
    manual = Notice.objects.filter(campaign=campaign, status=NoticeStatus.MANUAL).count()
    job = jobs.job_create(kind=JOB_KIND, actor=actor, total=pending, obj=campaign)
    NoticeCampaign.objects.filter(pk=campaign.pk).update(job=job)
    campaign.job = job
    record_event(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=campaign,
        details={
            "step": "sending",
            "incident": str(campaign.incident_id),
            "notices": pending,
            "manual": manual,
            "job": job.pk,
        },
    )
    campaign_id, job_id = campaign.pk, job.pk
    transaction.on_commit(lambda: enqueue_campaign(campaign_id, job_id))
    return job


def incident_notice_context(
    *, incident: Any, fields: Iterable[str], organization: Any, url: str
) -> dict[str, Any]:
    """What an incident notice says, in the active language: what happened, which of the
    person's data, what was done, what they can do (with their personal link when there is
    one), whom to contact."""
    return {
        "incident": incident,
        # The free texts in the notice's language (``incident_notices_prepare`` refuses to
        # prepare notices for a language the incident has no text in).
        "texts": incident.texts(translation.get_language() or "en"),
        "fields": field_labels(fields),
        "detected_text": deadline_text(incident.detected_at),
        "organization": organization,
        "url": url,
    }


class IncidentNoticeRenderer:
    """Renders an incident's notice once per language, set of fields, organisation and
    whether a link is given (a handful of variants for thousands of people), then fills in
    each customer's name and link."""

    def __init__(self, *, incident: Any) -> None:
        self.incident = incident
        self._rendered: dict[tuple[Any, ...], tuple[str, str, str]] = {}

    def render(
        self, *, language: str, fields: Iterable[str], organization: Any, with_link: bool
    ) -> tuple[str, str, str]:
        fields = tuple(sorted(fields))
        key = (language, fields, getattr(organization, "pk", None), with_link)
        if key not in self._rendered:
            with translation.override(language):
                context = {
                    **incident_notice_context(
                        incident=self.incident,
                        fields=fields,
                        organization=organization,
                        url=URL_MARK if with_link else "",
                    ),
                    "name": NAME_MARK,
                    "language": language,
                }
                subject = str(
                    _("Notice about your personal data ({reference})").format(
                        reference=self.incident.reference
                    )
                )
                text = get_template("notice/email/incident.txt").render(context)
                html = get_template("notice/email/incident.html").render(context)
            self._rendered[key] = (subject, text, html)
        return self._rendered[key]

    def build(
        self, *, customer: Customer, fields: Iterable[str], url: str
    ) -> EmailMultiAlternatives:
        subject, text, html = self.render(
            language=language_of(customer),
            fields=fields,
            organization=customer.organization,
            with_link=bool(url),
        )
        name = customer.full_name
        text = text.replace(NAME_MARK, name).replace(URL_MARK, url)
        html = html.replace(NAME_MARK, escape(name)).replace(URL_MARK, escape(url))
        message = EmailMultiAlternatives(subject, text, to=[customer.email])
        message.attach_alternative(html, "text/html")
        return message


def _incident_links(customers: dict[Any, Customer], link_deals: dict[Any, Any]) -> dict[Any, str]:
    """Each customer's personal link for the deal their notice names (reused while it has a
    day left, as for transfer notices), as absolute URLs."""
    by_deal: dict[Any, list[Any]] = {}
    for customer_id, deal_id in link_deals.items():
        if deal_id is not None and customer_id in customers:
            by_deal.setdefault(deal_id, []).append(customer_id)
    urls: dict[Any, str] = {}
    if not by_deal:
        return urls
    prefix = link_prefix()
    for deal in TransferDeal.objects.filter(pk__in=list(by_deal)):
        ids = by_deal[deal.pk]
        links = _usable_links(deal, ids)
        missing = [
            _new_link(deal, cid, NoticeChannel.EMAIL, None) for cid in ids if cid not in links
        ]
        NoticeLink.objects.bulk_create(missing)
        links.update({link.customer_id: link for link in missing})
        urls.update({cid: link_url(link, prefix=prefix) for cid, link in links.items()})
    return urls


def _send_incident_batch(campaign: NoticeCampaign, batch: list[tuple[int, Any]]) -> tuple[int, int]:
    rows = {
        pk: (customer_id, fields, deal_id)
        for pk, customer_id, fields, deal_id in Notice.objects.filter(
            pk__in=[pk for pk, _cid in batch]
        ).values_list("pk", "customer_id", "fields", "link_deal_id")
    }
    customers = (
        Customer.objects.with_data_keys()
        .select_related("organization")
        .in_bulk([customer_id for _pk, customer_id in batch])
    )
    urls = _incident_links(customers, {cid: deal_id for cid, _f, deal_id in rows.values()})
    renderer = IncidentNoticeRenderer(incident=campaign.incident)

    def build(notice_pk: int, customer: Customer) -> EmailMultiAlternatives:
        return renderer.build(
            customer=customer, fields=rows[notice_pk][1], url=urls.get(customer.pk, "")
        )

    return _deliver_batch(batch, customers, build)


# --- consent -------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def consent_record(
    *, actor: Any, deal: TransferDeal, customer: Customer, source: str
) -> ConsentRecord:
    """Record a customer's consent to the buyer's new purpose (idempotent)."""
    if customer.organization_id != deal.seller_id:
        raise ValidationError(_("This customer is not in the deal's customer book."))
    record, created = ConsentRecord.objects.get_or_create(
        deal=deal,
        customer=customer,
        defaults={
            "source": RequestSource(source),
            "recorded_by": actor if getattr(actor, "is_authenticated", False) else None,
        },
    )
    if created:
        record_event(
            action=AuditAction.CREATE,
            actor=actor,
            obj=record,
            deal=deal,
            details={"customer": customer.pk, "source": str(source)},
        )
    return record
