"""Letters for the customers an e-mail cannot reach: one page each, in the customer's
language, with the notice's text, their personal link written out and as a QR code.

Printing is a write: each letter carries a personal link, reused while it is usable (so a
reprint does not invalidate the letters already posted) and issued otherwise, and the print
is an audit event naming the campaign and the notices (never a name or an address). Staff
record the letter as sent, or the call as made, afterwards on the campaign page.

A letter is for the customer, not evidence: it carries the seller's name and no audit-chain
footer. The notice text is the e-mail's plain text (one template for both channels).
"""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO
from typing import Any

from django.db import transaction
from django.template.loader import get_template
from django.utils import timezone, translation
from django.utils.formats import date_format
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, SimpleDocTemplate, Spacer

from customers.models import Customer
from transferdesk.pdf import LATIN, para, register_fonts
from transferdesk.trail import AuditAction, record_event

from .notice_models import Notice, NoticeCampaign, NoticeChannel, NoticeLink, NoticeStatus
from .notices import _new_link, _usable_links, language_of, link_prefix, link_url, notice_context

#: Letters in one PDF: a page each, rendered inline; more are printed in further batches.
MAX_LETTERS = 500
QR_SIZE = 38 * mm


def letters_outstanding(campaign: NoticeCampaign) -> Any:
    """The campaign's notices still to be sent by letter or made by a call, oldest first."""
    return Notice.objects.filter(campaign=campaign, status=NoticeStatus.MANUAL).order_by("pk")


@transaction.atomic(durable=True)
def campaign_letters(
    *, actor: Any, campaign: NoticeCampaign, notice_ids: Sequence[int] | None = None
) -> tuple[bytes, int]:
    """The PDF of the outstanding letters (or of the chosen ones), at most ``MAX_LETTERS``;
    returns the PDF and how many letters it holds."""
    deal = campaign.deal
    assert deal is not None, "incident notices are printed from the incident"
    outstanding = letters_outstanding(campaign)
    if notice_ids is not None:
        outstanding = outstanding.filter(pk__in=list(notice_ids))
    rows = list(outstanding.values_list("pk", "customer_id")[:MAX_LETTERS])
    customers = Customer.objects.with_data_keys().in_bulk([cid for _pk, cid in rows])
    rows = [(pk, cid) for pk, cid in rows if cid in customers]
    ids = [cid for _pk, cid in rows]
    links = _usable_links(deal, ids)
    missing = [_new_link(deal, cid, NoticeChannel.LETTER, actor) for cid in ids if cid not in links]
    NoticeLink.objects.bulk_create(missing)
    links.update({link.customer_id: link for link in missing})
    prefix = link_prefix()
    buffer = BytesIO()
    register_fonts()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=22 * mm,
        rightMargin=22 * mm,
        topMargin=20 * mm,
        bottomMargin=18 * mm,
        title=str(deal.seller.legal_name),
        creator="TransferDesk",
        initialFontName=LATIN,
    )
    flowables: list[Any] = []
    for index, (_pk, cid) in enumerate(rows):
        customer = customers[cid]
        if index:
            flowables.append(PageBreak())
        flowables += _letter(campaign, customer, link_url(links[cid], prefix=prefix))
    if not flowables:
        flowables.append(para(""))
    document.build(flowables)
    record_event(
        action=AuditAction.EXPORT,
        actor=actor,
        obj=campaign,
        deal=deal,
        details={
            "letters": len(rows),
            "fields": ["full_name", "postal_address"],
            "notices": [pk for pk, _cid in rows],
            "links_issued": len(missing),
        },
    )
    return buffer.getvalue(), len(rows)


def _letter(campaign: NoticeCampaign, customer: Customer, url: str) -> list[Any]:
    deal = campaign.deal
    assert deal is not None
    language = language_of(customer)
    with translation.override(language):
        context = {**notice_context(deal=deal, campaign=campaign, url=url)}
        context["name"] = customer.full_name
        text = get_template("notice/email/notice.txt").render(context)
        today = date_format(timezone.localdate(), "DATE_FORMAT")
    address = "\n".join(line for line in (customer.full_name, customer.postal_address) if line)
    flowables: list[Any] = [
        para(deal.seller.legal_name, "h2", bold=True),
        Spacer(1, 10 * mm),
        para(address),
        Spacer(1, 8 * mm),
        para(today, "muted"),
        Spacer(1, 6 * mm),
    ]
    for block in text.strip().split("\n\n"):
        flowables += [para(block.strip("\n")), Spacer(1, 2.5 * mm)]
    flowables += [Spacer(1, 4 * mm), _qr(url)]
    return flowables


def _qr(url: str) -> Drawing:
    """The personal link as a QR code (reportlab draws it: no image library, no file)."""
    widget = QrCodeWidget(url, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    scale = [QR_SIZE / (x1 - x0), 0, 0, QR_SIZE / (y1 - y0), 0, 0]
    drawing = Drawing(QR_SIZE, QR_SIZE, transform=scale)
    drawing.add(widget)
    return drawing
