r"""Benchmark: an incident's notices to N people affected, end to end, on PostgreSQL.

    DATABASE_URL=postgres://user@host:5432/anydb \
        .venv/bin/python benchmarks/incident_notices.py --n N

In a scratch database (created next to the one in DATABASE_URL, dropped afterwards) a seller
book of N customers (default 10,000; a third in Chinese, one in fifty without an e-mail
address) is seeded in bulk, and a broker's read of each of them is written to the audit
trail within one deal. Then, timed one by one:

* affected: the people and fields derived from the access log (``affected``);
* prepare: the incident campaign with one notice per person (``incident_notices_prepare``);
* send: approval by a second officer, then the sending job run in-process (every notice
  rendered in its language with its fields and personal link, sent to Django's in-memory
  mail backend, outcomes stored batch by batch, progress on the job row);
* floor: the same number of two-part e-mails built from one fixed text and sent through the
  same backend, with no database at all: the cost of the mail itself.

The last line is

    RESULT people=N affected_s=... prepare_s=... send_s=... notices_per_s=...
        floor_per_s=... ratio=...

(on one line)

where ratio = floor_per_s / notices_per_s (how many times slower than bare mail).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import django_setup, scratch_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "")
    with scratch_database(base, "td_bench_incident") as url:
        django_setup(url)
        from django.conf import settings
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        run(args.n)


def run(n: int) -> None:
    from django.core import mail
    from django.core.mail import EmailMultiAlternatives, get_connection
    from django.utils import timezone

    from accounts.choices import Role
    from audits.incidents import affected, incident_create, incident_notices_prepare
    from customers.models import Customer
    from tests.factories import UserFactory, make_cast
    from transferdesk import jobs
    from transferdesk.celery import app
    from transferdesk.models import DataKey, DataKeyPurpose
    from transferdesk.trail import AuditAction, record_event
    from transfers import notices, services
    from transfers.choices import AssignmentRole

    app.conf.task_always_eager = True
    cast = make_cast()
    second = UserFactory(
        username="compliance2", organization=cast.broker_firm, roles=[Role.COMPLIANCE]
    )
    deal = services.deal_create(
        actor=cast.broker, reference="BENCH-1", title="Bench", seller=cast.seller,
        buyer=cast.buyer_org, purposes="Service", legal_basis="Contract",
    )  # fmt: skip
    services.deal_assign(actor=cast.broker, deal=deal, user=cast.buyer, role=AssignmentRole.BUYER)
    batch = 2000
    for start in range(0, n, batch):
        keys = [
            DataKey.build(purpose=DataKeyPurpose.CUSTOMER) for _ in range(min(batch, n - start))
        ]
        DataKey.objects.bulk_create(keys)
        Customer.objects.bulk_create(
            [
                Customer(
                    id=uuid.uuid4(),
                    organization=cast.seller,
                    reference=f"B-{start + i:07d}",
                    data_key=key,
                    full_name=f"Person {start + i}",
                    email="" if (start + i) % 50 == 0 else f"p{start + i}@bench.example",
                    preferred_language="zh-hans" if (start + i) % 3 == 0 else "en",
                )
                for i, key in enumerate(keys)
            ]
        )
    window_start = timezone.now()
    fields = (["email", "full_name"], ["national_id"], ["phone", "postal_address"])
    from django.db import transaction

    with transaction.atomic():
        for i, customer in enumerate(Customer.objects.filter(organization=cast.seller).iterator()):
            record_event(
                action=AuditAction.VIEW_SENSITIVE, actor=cast.broker, obj=customer, deal=deal,
                details={"fields": fields[i % 3]},
            )  # fmt: skip
    incident = incident_create(
        actor=cast.compliance, detected_at=timezone.now(), description="Benchmark incident.",
        severity="high", window_start=window_start, window_end=timezone.now(),
        contact="dpo@bench.example", description_zh="基准测试事件。",
        contact_zh="dpo@bench.example",
    )  # fmt: skip

    t0 = time.perf_counter()
    found = affected(incident)
    affected_s = time.perf_counter() - t0
    assert len(found.customers) == n, len(found.customers)

    t0 = time.perf_counter()
    campaign = incident_notices_prepare(actor=cast.compliance, incident=incident)
    prepare_s = time.perf_counter() - t0

    mail.outbox = []
    t0 = time.perf_counter()
    notices.campaign_approve(actor=second, campaign=campaign)
    job = notices.campaign_send(actor=cast.compliance, campaign=campaign)
    send_s = time.perf_counter() - t0
    job.refresh_from_db()
    assert job.status == jobs.JobStatus.SUCCEEDED, job.error
    sent = len(mail.outbox)
    assert sent == n - len(range(0, n, 50)), sent
    print(
        f"affected {len(found.customers)} people from {found.events} events in {affected_s:.2f} s"
    )
    print(f"prepared {n} notices in {prepare_s:.2f} s; sent {sent} in {send_s:.2f} s")

    mail.outbox = []
    t0 = time.perf_counter()
    connection = get_connection()
    connection.open()
    for i in range(sent):
        message = EmailMultiAlternatives(
            "Notice", "Dear Person,\n" * 20, to=[f"p{i}@bench.example"], connection=connection
        )
        message.attach_alternative("<p>Dear Person,</p>" * 20, "text/html")
        message.send()
    connection.close()
    floor_s = time.perf_counter() - t0
    rate, floor = sent / send_s, sent / floor_s
    print(
        f"RESULT people={n} affected_s={affected_s:.2f} prepare_s={prepare_s:.2f} "
        f"send_s={send_s:.2f} notices_per_s={rate:.0f} floor_per_s={floor:.0f} "
        f"ratio={floor / rate:.1f}"
    )


if __name__ == "__main__":
    main()
