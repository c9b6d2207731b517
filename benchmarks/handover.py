"""Benchmark: an identified handover stage of N customers (default 100,000) on PostgreSQL.

    DATABASE_URL=postgres://user@host:5432/anydb REDIS_URL=redis://host:6379/6 \
        .venv/bin/python benchmarks/handover.py --n N

Creates a scratch database next to the one in DATABASE_URL (dropped afterwards), migrates it,
bulk-loads N encrypted customers of one seller and opens a deal whose objection window has
closed. Then:

* engine, one worker: an identified stage (general + sensitive + core tiers) approved through
  ``stage_approve`` and run by one live ``celery worker`` process (``-c 1``); timed from the
  approval to the delivered stage, manifest included;
* engine, two workers: the same with a second stage and two worker processes;
* floor: the least work that produces the same items in one process with no Django: a
  psycopg2 server-side cursor streaming the same rows, unwrapping each customer's key,
  decrypting its fields, re-encrypting the canonical snapshot under the deal key, hashing it,
  and COPYing the rows into a table shaped like the items table.

Goal (issue 4): ratio = engine items/s ÷ floor items/s ≥ 0.25 with one worker, and a near-linear
speed-up with two. The last line is

    RESULT items=N items_per_s=E floor_per_s=F ratio=E/F two_worker_speedup=E2/E
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LOAD_BATCH = 2000


def _connect(url: str, dbname: str | None = None) -> Any:
    import psycopg2

    parts = urlsplit(url)
    return psycopg2.connect(
        dbname=dbname or parts.path.lstrip("/"),
        user=parts.username,
        password=parts.password,
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
    )


@contextlib.contextmanager
def scratch_database(base_url: str, prefix: str) -> Any:
    """A fresh database on the same server, dropped on the way out whatever happens."""
    name = f"{prefix}_{os.getpid()}"
    admin = _connect(base_url, "postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(base_url)._replace(path=f"/{name}"))
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _django(url: str, redis_url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["REDIS_URL"] = redis_url
    os.environ["DATABASE_CONN_MAX_AGE"] = "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "transferdesk.settings")
    import django

    django.setup()


def load(n: int) -> Any:
    """Migrate, N customers of one seller, a deal ready for identified stages."""
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from accounts.choices import Role
    from accounts.services import user_upsert
    from customers.choices import OrganizationKind
    from customers.models import Customer, Organization
    from transferdesk.models import DataKey, DataKeyPurpose
    from transfers import services
    from transfers.choices import AssignmentRole

    call_command("migrate", verbosity=0)
    seller = Organization.objects.create(
        slug="seller", legal_name="Seller Co.", kind=OrganizationKind.SELLER, country="CN"
    )
    buyer = Organization.objects.create(
        slug="buyer", legal_name="Buyer plc", kind=OrganizationKind.BUYER, country="GB"
    )
    users = {}
    for name, role, org in (
        ("broker", Role.BROKER, seller),
        ("compliance", Role.COMPLIANCE, seller),
        ("buyer", Role.BUYER, buyer),
    ):
        users[name], _ = user_upsert(
            username=name,
            password="bench-password",  # noqa: S106 - a scratch database, dropped afterwards
            organization=org,
            roles=[role],
        )
    started = time.perf_counter()
    for start in range(0, n, LOAD_BATCH):
        count = min(LOAD_BATCH, n - start)
        keys = [DataKey.build(purpose=DataKeyPurpose.CUSTOMER) for _ in range(count)]
        DataKey.objects.bulk_create(keys)
        Customer.objects.bulk_create(
            [
                Customer(
                    organization=seller,
                    reference=f"B-{start + i:08d}",
                    data_key=key,
                    segment=("retail", "business", "premium")[(start + i) % 3],
                    city="Hangzhou",
                    region="Zhejiang",
                    country="CN",
                    preferred_language="zh-hans",
                    full_name=f"客户 {start + i}",
                    email=f"c{start + i}@bench.example",
                    phone="+8613800000000",
                    postal_address="1 West Lake Road, Hangzhou",
                    preferences="Prefers e-mail contact, evenings",
                    national_id=f"33010619900101{start + i:04d}",
                    bank_account="CN12 3456 7890 1234",
                    special_category_notes="",
                )
                for i, key in enumerate(keys)
            ]
        )
    print(f"loaded {n} customers in {time.perf_counter() - started:.1f} s", flush=True)
    deal = services.deal_create(
        actor=users["broker"], reference="BENCH-1", title="Benchmark", seller=seller,
        buyer=buyer, purposes="Benchmark", legal_basis="Contract",
    )  # fmt: skip
    services.deal_assign(
        actor=users["broker"], deal=deal, user=users["buyer"], role=AssignmentRole.BUYER
    )
    deal.notices_sent_at = timezone.now() - timedelta(days=31)
    deal.objection_window_closes_at = timezone.now() - timedelta(days=1)
    deal.save(update_fields=["notices_sent_at", "objection_window_closes_at"])
    return deal, users


def engine_run(deal: Any, users: Any, workers: int, n: int) -> float:
    """Approve an identified stage with ``workers`` live worker processes; items/s."""
    from customers.choices import Tier
    from tests.support.worker import LiveWorker
    from transfers import services
    from transfers.choices import StageKind, StageStatus
    from transfers.models import HandoverStage

    stage = services.stage_create(
        actor=users["broker"], deal=deal, name=f"Identified x{workers}",
        kind=StageKind.IDENTIFIED, tier_scope=[Tier.GENERAL, Tier.SENSITIVE, Tier.CORE],
    )  # fmt: skip
    services.stage_submit(actor=users["broker"], stage=stage)
    processes = [LiveWorker(queues="handover") for _ in range(workers)]
    for i, worker in enumerate(processes):
        worker.start(purge=i == 0)
    try:
        started = time.perf_counter()
        services.stage_approve(actor=users["compliance"], stage=stage, note="benchmark")
        while True:
            row = HandoverStage.objects.values("status", "done").get(pk=stage.pk)
            if row["status"] == StageStatus.DELIVERED:
                break
            if row["status"] == StageStatus.FAILED:
                raise RuntimeError("the stage failed; see var/test-logs")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        for worker in processes:
            worker.stop()
    items = HandoverStage.objects.get(pk=stage.pk).items.count()
    assert items == n, f"{items} items for {n} customers"
    rate = n / elapsed
    print(f"engine, {workers} worker(s): {n} items in {elapsed:.1f} s = {rate:,.0f} items/s")
    return rate


def floor_run(url: str, deal: Any, n: int) -> float:
    """Same rows, same crypto, same hashing, COPY: the least work for the same items."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from customers.choices import Tier
    from customers.models import Customer
    from customers.registry import fields_of
    from transferdesk.crypto.keyring import get_keyring

    keyring = get_keyring()
    deal_key = AESGCM(deal.data_key.unwrap())
    general = fields_of(Customer, Tier.GENERAL)
    encrypted = fields_of(Customer, Tier.SENSITIVE) + fields_of(Customer, Tier.CORE)
    stage_id = str(uuid.uuid4())
    conn = _connect(url)
    with conn.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE floor_items (stage_id uuid, customer_id uuid, recipient_id int,"
            " snapshot bytea, digest varchar(64), created_at timestamptz)"
        )
    started = time.perf_counter()
    columns = ", ".join([f"c.{name}" for name in general] + [f"c.{name}" for name in encrypted])
    stream = conn.cursor(name="floor")
    stream.itersize = 5000
    query = (
        "SELECT c.id, k.id, k.master_key_id, k.wrapped_key, {columns} FROM customers_customer c"
        " JOIN transferdesk_datakey k ON k.id = c.data_key_id ORDER BY c.id"
    )  # column names come from the tier registry, never from input
    stream.execute(query.format(columns=columns))
    masters: dict[str, AESGCM] = {}
    buffer = io.StringIO()
    rows = 0
    write = conn.cursor()
    for row in stream:
        customer_id, key_id, master_id, wrapped = str(row[0]), row[1], row[2], bytes(row[3])
        master = masters.get(master_id) or masters.setdefault(
            master_id, AESGCM(keyring.key(master_id))
        )
        raw = master.decrypt(
            wrapped[1:13], wrapped[13:], f"transferdesk.DataKey|{key_id}|{master_id}".encode()
        )
        key = AESGCM(raw)
        fields: dict[str, Any] = {}
        for name, value in zip(general, row[4 : 4 + len(general)], strict=True):
            fields[name] = value.isoformat() if hasattr(value, "isoformat") else value
        for name, value in zip(encrypted, row[4 + len(general) :], strict=True):
            if value is None:
                fields[name] = ""
                continue
            blob = bytes(value)
            aad = f"customers.Customer|{name}|{customer_id}".encode()
            fields[name] = key.decrypt(blob[1:13], blob[13:], aad).decode()
        canonical = json.dumps(
            {"customer": customer_id, "fields": fields, "stage": stage_id},
            sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        ).encode()  # fmt: skip
        nonce = os.urandom(12)
        sealed = (
            b"\x01"
            + nonce
            + deal_key.encrypt(
                nonce, canonical, f"transfers.HandoverItem|{stage_id}|{customer_id}".encode()
            )
        )
        digest = hashlib.sha256(canonical).hexdigest()
        buffer.write(
            f"{stage_id}\t{customer_id}\t1\t\\\\x{sealed.hex()}\t{digest}\t2026-01-01 00:00:00+00\n"
        )
        rows += 1
        if rows % 5000 == 0:
            buffer.seek(0)
            write.copy_expert("COPY floor_items FROM STDIN", buffer)
            buffer = io.StringIO()
    buffer.seek(0)
    write.copy_expert("COPY floor_items FROM STDIN", buffer)
    stream.close()
    conn.commit()
    elapsed = time.perf_counter() - started
    conn.close()
    assert rows == n
    rate = n / elapsed
    print(f"floor: {n} items in {elapsed:.1f} s = {rate:,.0f} items/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--one-worker-only", action="store_true")
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/6")
    if not base.startswith("postgres"):
        raise SystemExit("handover benchmark: DATABASE_URL must point at PostgreSQL")
    with scratch_database(base, "td_handover_bench") as url:
        _django(url, redis_url)
        deal, users = load(args.n)
        floor = floor_run(url, deal, args.n)
        one = engine_run(deal, users, 1, args.n)
        two = one if args.one_worker_only else engine_run(deal, users, 2, args.n)
        from django.db import connections

        connections.close_all()
    print(
        f"RESULT items={args.n} items_per_s={one:.0f} floor_per_s={floor:.0f} "
        f"ratio={one / floor:.2f} two_worker_speedup={two / one:.2f}"
    )


if __name__ == "__main__":
    main()
