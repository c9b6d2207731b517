"""The record of processing activities for one deal (GDPR art. 30, PIPL art. 55-56): what
categories of data move, why, on which legal basis, to whom, across which border, for how long.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Max, Min
from django.utils.translation import gettext as _
from reportlab.lib.units import mm
from reportlab.platypus import Flowable

from customers import registry
from customers.choices import LegalBasis, Tier
from customers.models import Customer
from transferdesk.pdf import title_page
from transfers.models import HandoverItem, HandoverStage

from .common import BuildContext, ReportParams, page_break, resolve_deal, section, tier_names

#: The categories of DESIGN.md, mapped to the models that hold them.
CATEGORIES = [
    ("customers.Customer", ("general",), "Basic details"),
    ("customers.Customer", ("sensitive", "core"), "Identity and contact data"),
    ("customers.PurchaseRecord", ("general", "sensitive"), "Purchase records"),
    ("customers.Interaction", ("general", "sensitive"), "Interaction records"),
]


def title(params: ReportParams) -> str:
    return _("Record of processing activities {ref}").format(ref=params.deal)


def _category_rows() -> Iterator[list[str]]:
    from django.apps import apps

    labels = {
        "Basic details": _("Basic details"),
        "Identity and contact data": _("Identity and contact data"),
        "Purchase records": _("Purchase records"),
        "Interaction records": _("Interaction records"),
    }
    for label, tiers, name in CATEGORIES:
        model = apps.get_model(label)
        for tier in tiers:
            fields = registry.fields_of(model, tier)
            if not fields:
                continue
            verbose = [str(model._meta.get_field(f).verbose_name) for f in fields]
            yield [labels[name], str(Tier(tier).label), ", ".join(verbose)]


def build(params: ReportParams, ctx: BuildContext) -> Iterator[Flowable]:
    deal = resolve_deal(params.deal)
    customers = Customer.objects.filter(organization=deal.seller)
    subjects = customers.count()
    ctx.totals["events"] = subjects
    cross_border = (
        _("Yes, to {country}").format(country=deal.destination_country)
        if deal.cross_border
        else _("No")
    )
    yield from title_page(
        _("Record of processing activities"),
        _("GDPR art. 30 · PIPL art. 55-56 · {ref} · {title}").format(
            ref=deal.reference, title=deal.title
        ),
        [
            (_("Controller (transferring)"), f"{deal.seller.legal_name} ({deal.seller.country})"),
            (_("Recipient (acquiring)"), f"{deal.buyer.legal_name} ({deal.buyer.country})"),
            (_("Purposes"), deal.purposes),
            (_("Legal basis of the transfer"), deal.legal_basis),
            (_("Cross-border transfer"), cross_border),
            (
                _("Cross-border assessment"),
                deal.cross_border_assessment or (_("Missing") if deal.cross_border else "—"),
            ),
            (_("Data subjects in the seller's book"), subjects),
            (_("Status"), deal.get_status_display()),
        ],
    )
    yield page_break()
    yield from section(
        _("Categories of personal data"),
        [_("Category"), _("Tier"), _("Fields")],
        _category_rows(),
        "",
        [45 * mm, 25 * mm, 108 * mm],
    )
    bases = customers.values_list("legal_basis").annotate(n=Count("pk")).order_by("legal_basis")
    basis_labels = dict(LegalBasis.choices)
    yield from section(
        _("Legal basis of the original collection"),
        [_("Legal basis"), _("Data subjects")],
        ([str(basis_labels.get(b, b)) if b else _("Not recorded"), str(n)] for b, n in bases),
        _("The seller's book holds no customers."),
        [120 * mm, 58 * mm],
    )
    purposes = (
        customers.values_list("collection_purpose")
        .annotate(n=Count("pk"))
        .order_by("-n", "collection_purpose")[:50]
    )
    yield from section(
        _("Purposes of the original collection"),
        [_("Purpose"), _("Data subjects")],
        ([p or _("Not recorded"), str(n)] for p, n in purposes),
        _("The seller's book holds no customers."),
        [120 * mm, 58 * mm],
    )
    stages = HandoverStage.objects.filter(deal=deal).order_by("order")
    delivered = dict(
        HandoverItem.objects.filter(stage__deal=deal)
        .values_list("stage_id")
        .annotate(n=Count("pk"))
        .values_list("stage_id", "n")
    )
    yield from section(
        _("Recipients and disclosures"),
        [_("Stage"), _("Layer"), _("Tiers"), _("Recipient"), _("Status"), _("Records")],
        (
            [
                f"{s.order}. {s.name}",
                s.get_kind_display(),
                tier_names(s.tier_scope),
                deal.buyer.legal_name,
                s.get_status_display(),
                # Aggregate stages disclose statistics, not records.
                _("statistics of {n}").format(n=s.done)
                if s.kind == "aggregate"
                else str(delivered.get(s.pk, 0)),
            ]
            for s in stages
        ),
        _("No disclosure is planned yet."),
        [34 * mm, 26 * mm, 28 * mm, 40 * mm, 24 * mm, 26 * mm],
    )
    retention = customers.aggregate(
        first=Min("retention_until"), last=Max("retention_until"), dated=Count("retention_until")
    )
    undated = subjects - (retention["dated"] or 0)
    yield from section(
        _("Retention"),
        [_("Measure"), _("Value")],
        [
            [_("Earliest retention date"), str(retention["first"] or "—")],
            [_("Latest retention date"), str(retention["last"] or "—")],
            [_("Customers without a retention date"), str(undated)],
        ],
        "",
        [120 * mm, 58 * mm],
    )
