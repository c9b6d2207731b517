"""Demo data: one sign-in per role, and (as later issues land) a customer book and deals.

Idempotent: running it again brings the demo back to the same state without duplicates.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.choices import Role
from accounts.services import user_upsert
from customers.choices import OrganizationKind
from customers.demo import seed_customer_book
from customers.models import Organization

DEMO_PASSWORD = "transferdesk-demo"  # noqa: S105 - demo data, printed on purpose

ORGANIZATIONS = [
    {
        "slug": "harbour-bridge",
        "legal_name": "Harbour Bridge Advisory Ltd.",
        "kind": OrganizationKind.BROKER,
        "country": "HK",
        "registration_number": "HK-2231984",
        "contact_name": "Transfer desk",
        "contact_email": "desk@harbourbridge.example",
    },
    {
        "slug": "meridian",
        "legal_name": "Meridian Home Appliances Co., Ltd. 美瑞家电有限公司",
        "kind": OrganizationKind.SELLER,
        "country": "CN",
        "registration_number": "91310000MA1K4XYZ2P",
        "contact_name": "Data protection office",
        "contact_email": "privacy@meridian.example",
    },
    {
        "slug": "northwind",
        "legal_name": "Northwind Retail Group plc",
        "kind": OrganizationKind.BUYER,
        "country": "GB",
        "registration_number": "GB-08812345",
        "contact_name": "Integration office",
        "contact_email": "integration@northwind.example",
    },
    {
        "slug": "eastlake",
        "legal_name": "Eastlake Commerce Co., Ltd. 东湖商贸有限公司",
        "kind": OrganizationKind.BUYER,
        "country": "CN",
        "registration_number": "91420100MA4F0ABC1Q",
        "contact_name": "法务部",
        "contact_email": "legal@eastlake.example",
    },
]

USERS = [
    ("broker", "harbour-bridge", [Role.BROKER], "Lena", "Brooks", False),
    ("broker2", "harbour-bridge", [Role.BROKER], "Wei", "Zhang", False),
    ("compliance", "harbour-bridge", [Role.COMPLIANCE], "Amira", "Haddad", False),
    ("buyer", "northwind", [Role.BUYER], "Tom", "Fletcher", False),
    ("buyer2", "eastlake", [Role.BUYER], "Min", "Li", False),
    ("admin", "harbour-bridge", [], "Site", "Administrator", True),
]


class Command(BaseCommand):
    help = "Create demo organisations and one user per role (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        orgs = {}
        for data in ORGANIZATIONS:
            values = {k: v for k, v in data.items() if k != "slug"}
            orgs[data["slug"]], _ = Organization.objects.update_or_create(
                slug=data["slug"], defaults=values
            )
        created = 0
        users = {}
        for username, org_slug, roles, first, last, is_admin in USERS:
            users[username], was_created = user_upsert(
                username=username,
                password=DEMO_PASSWORD,
                organization=orgs[org_slug],
                roles=roles,
                first_name=first,
                last_name=last,
                email=f"{username}@demo.example",
                is_staff=is_admin,
                is_superuser=is_admin,
            )
            created += was_created
        names = ", ".join(u[0] for u in USERS)
        book = seed_customer_book(
            organization=orgs["meridian"],
            brokers={name: users[name] for name in ("broker", "broker2")},
            actor=users["admin"],
        )
        from transfers.demo import seed_deals

        deals = seed_deals(orgs=orgs, users=users)
        from transfers.notice_demo import seed_notices

        notices = seed_notices()
        self.stdout.write(
            f"seed_demo: {len(USERS)} users ({created} new): {names}; password: {DEMO_PASSWORD}; "
            f"Meridian: {book}; {deals}; {notices}\n"
            "Second factor: each demo user enrols on first sign-in (the page leads there): an "
            "authenticator app (TOTP) on http://127.0.0.1:8000, or a passkey on "
            "http://localhost:8000 (a passkey cannot be tied to an IP address)."
        )
