"""Benchmark: the retention purge (crypto-shredding) in customers per second on PostgreSQL.

    DATABASE_URL=postgres://user@host:5432/anydb .venv/bin/python benchmarks/purge.py --n N

In a scratch database (created next to the one in DATABASE_URL, dropped afterwards) two
seller books of N customers each (default 100,000) are seeded alike: every customer with its
own data key, encrypted sensitive and core fields, one history row, one purchase and one
interaction. Then, in the same run:

* purge: the first book through ``audits.retention.purge_policy`` (a confirmed policy whose
  period has passed for everyone): data keys destroyed, history rows deleted, rows deleted,
  tombstones written, an audit event pair per chunk, progress on a job row;
* delete: the second book by plain ``DELETE`` statements of the same rows (purchases,
  interactions, history, customers) in one transaction: the floor of any purge.

The destruction certificate is built after the timing and reported on its own line. The
last line is

    RESULT customers=N customers_per_s=... delete_per_s=... ratio=...

where ratio = delete_per_s / customers_per_s (how many times slower than a bare DELETE).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import django_setup, scratch_database  # noqa: E402


def _django(url: str) -> None:
    django_setup(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(slug: str, n: int, *, batch: int = 2000) -> Any:
    """One seller book of ``n`` customers, written in bulk (keys, rows, history)."""
    from customers.models import Customer, Interaction, Organization, PurchaseRecord
    from transferdesk.crypto.history import bulk_create_with_encrypted_history
    from transferdesk.crypto.keyring import get_keyring
    from transferdesk.models import DataKey, DataKeyPurpose

    organization = Organization.objects.create(
        slug=slug, legal_name=f"Seller {slug}", kind="seller", country="CN"
    )
    keyring = get_keyring()
    long_ago = dt.date(2015, 1, 1)
    for start in range(0, n, batch):
        size = min(batch, n - start)
        keys = [
            DataKey.build(purpose=DataKeyPurpose.CUSTOMER, keyring=keyring) for _ in range(size)
        ]
        DataKey.objects.bulk_create(keys)
        customers = []
        for i, key in enumerate(keys):
            customer = Customer(
                id=uuid.uuid4(),
                organization=organization,
                reference=f"{slug}-{start + i:07d}",
                data_key=key,
                city="Suzhou",
                segment="retail",
                retention_until=long_ago,
                full_name=f"Bench Person {start + i}",
                email=f"p{start + i}@{slug}.example",
                national_id=f"ID{start + i:09d}",
                special_category_notes="none",
            )
            customers.append(customer)
        bulk_create_with_encrypted_history(customers, Customer)
        PurchaseRecord.objects.bulk_create(
            PurchaseRecord(
                id=uuid.uuid4(), customer=c, purchased_on=long_ago, product="Washer",
                amount="10.00", currency="CNY", notes="delivered",
            )
            for c in customers
        )  # fmt: skip
        Interaction.objects.bulk_create(
            Interaction(
                id=uuid.uuid4(), customer=c, occurred_on=long_ago, channel="chat",
                summary="asked about delivery",
            )
            for c in customers
        )  # fmt: skip
    return organization


def plain_delete(organization: Any) -> float:
    """The floor: delete the same rows with plain statements, one transaction."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        ids = "SELECT id FROM customers_customer WHERE organization_id = %s"
        cursor.execute(
            f"DELETE FROM customers_purchaserecord WHERE customer_id IN ({ids})",  # noqa: S608
            [organization.pk],
        )
        cursor.execute(
            f"DELETE FROM customers_interaction WHERE customer_id IN ({ids})",  # noqa: S608
            [organization.pk],
        )
        cursor.execute(
            f"DELETE FROM customers_historicalcustomer WHERE id IN ({ids})",  # noqa: S608
            [organization.pk],
        )
        cursor.execute(
            "DELETE FROM customers_customer WHERE organization_id = %s", [organization.pk]
        )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="customers per book")
    parser.add_argument("--chunk", type=int, default=None, help="customers per transaction")
    parser.add_argument(
        "--no-certificate", action="store_true", help="skip building the certificate afterwards"
    )
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL server (a scratch database is created there).")
    with scratch_database(base, "td_life_bench_purge") as url:
        _django(url)
        from django.db import connection

        from audits.models import RetentionPolicy
        from audits.retention import CHUNK_SIZE, certificate_for_run, purge_policy
        from transferdesk.jobs import job_create

        started = time.perf_counter()
        purged_book = seed("purge", args.n)
        deleted_book = seed("delete", args.n)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        print(f"seeded 2 x {args.n} customers in {time.perf_counter() - started:.1f}s", flush=True)

        policy = RetentionPolicy.objects.create(
            organization=purged_book, category="customer_record", event="contract_end",
            period_days=365, action="destroy", confirmed_at=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        job = job_create(kind="purge", total=args.n)
        started = time.perf_counter()
        outcome = purge_policy(
            policy=policy, job_id=job.pk, chunk_size=args.chunk or CHUNK_SIZE, certificate=False
        )
        purge_seconds = time.perf_counter() - started
        assert outcome.customers == args.n, outcome

        delete_seconds = plain_delete(deleted_book)

        print(f"purge {purge_seconds:.2f}s, plain delete {delete_seconds:.2f}s")
        if not args.no_certificate:
            started = time.perf_counter()
            assert outcome.run is not None
            certificate = certificate_for_run(run=outcome.run)
            print(
                f"certificate {time.perf_counter() - started:.1f}s "
                f"({len(bytes(certificate.pdf)) // 1024} KiB)"
            )
        purge_rate = args.n / purge_seconds
        delete_rate = args.n / delete_seconds
        print(
            f"RESULT customers={args.n} customers_per_s={purge_rate:.0f} "
            f"delete_per_s={delete_rate:.0f} ratio={delete_rate / purge_rate:.2f}"
        )
        connection.close()


if __name__ == "__main__":
    main()
