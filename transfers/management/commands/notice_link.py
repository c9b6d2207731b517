"""Print a customer's personal link for a notice by letter or phone, and log that it was issued.

Issuing revokes the customer's earlier links for the deal, so only the newest letter works.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from customers.models import Customer
from transfers.models import TransferDeal
from transfers.notice_models import NoticeChannel
from transfers.notices import link_issue, link_url


class Command(BaseCommand):
    help = "Print a customer's personal notice link (for a letter or a call); the issue is audited."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--deal", required=True, help="deal reference")
        parser.add_argument("--customer", required=True, help="customer reference at the seller")
        parser.add_argument(
            "--channel", choices=[NoticeChannel.LETTER, NoticeChannel.PHONE], default="letter"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        deal = TransferDeal.objects.filter(reference=options["deal"]).first()
        if deal is None:
            raise CommandError(f"no deal with reference {options['deal']!r}")
        customer = Customer.objects.filter(
            organization_id=deal.seller_id, reference=options["customer"]
        ).first()
        if customer is None:
            raise CommandError(
                f"no customer {options['customer']!r} in the customer book of {deal.reference}"
            )
        link = link_issue(actor=None, deal=deal, customer=customer, channel=options["channel"])
        self.stdout.write(
            f"notice_link: {link_url(link)} (deal {deal.reference}, customer {customer.reference}, "
            f"expires {link.expires_at:%Y-%m-%d})"
        )
