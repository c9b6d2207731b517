"""Shared builders for the report, explorer and review tests: a deal with Chinese names and a
trail of events, built through the services."""

from __future__ import annotations

import io

import pypdf

from tests.factories import CustomerFactory
from transferdesk.trail import AuditAction, record_event
from transfers import services
from transfers.choices import AssignmentRole

HOSTILE = '<a href="http://evil.test/x">click</a>'
FORMULA = '=HYPERLINK("http://evil.test","x")'


def make_deal(cast, *, reference="D-1", title="美瑞家电客户转让"):
    cast.seller.legal_name = "美瑞家电有限公司"
    cast.seller.save(update_fields=["legal_name"])
    cast.buyer_org.legal_name = "东湖商贸有限公司"
    cast.buyer_org.save(update_fields=["legal_name"])
    deal = services.deal_create(
        actor=cast.broker,
        reference=reference,
        title=title,
        seller=cast.seller,
        buyer=cast.buyer_org,
        purposes="继续履行服务合同 " + HOSTILE,
        legal_basis="Contract (GDPR art. 6(1)(b))",
    )
    services.deal_assign(actor=cast.broker, deal=deal, user=cast.buyer, role=AssignmentRole.BUYER)
    return deal


def make_customer(cast, reference="C-1"):
    return CustomerFactory(organization=cast.seller, reference=reference, full_name="张伟")


def access_events(cast, deal, customer, n):
    for i in range(n):
        record_event(
            action=AuditAction.VIEW_SENSITIVE if i % 2 else AuditAction.VIEW_CORE,
            actor=cast.broker,
            obj=customer,
            deal=deal,
            details={"fields": ["email", "phone"], "n": i},
        )


def pdf_text(data: bytes) -> tuple[pypdf.PdfReader, str]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return reader, "\n".join(page.extract_text() for page in reader.pages)
