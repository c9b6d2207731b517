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

Before timing anything the loaded tables are ANALYZEd, as autovacuum would have done long
before an identified stage is approved (notices and their objection window come first): the
test server runs with autovacuum off, and plans over tables with no statistics at all say
nothing about the engine.

Each engine run also prints the CPU time its processes used: the worker processes (main and
pool children, from /proc) and the PostgreSQL backends serving the scratch database (sampled
from /proc while the stage runs; "n/a" when the server is on another host). Work and cores
used, set against the elapsed time, tell whether a second worker can scale on this machine:
when PostgreSQL and the workers share two cores, CPU time ÷ elapsed nears 2 and the speed-up
cannot grow further. The load average before and after each run is printed too.

Goal (issue 4): ratio = engine items/s ÷ floor items/s ≥ 0.25 with one worker, and a near-linear
speed-up with two. The last line is

    RESULT items=N items_per_s=E floor_per_s=F ratio=E/F two_worker_speedup=E2/E \
        cpu_ratio=C load=L

where C is the floor's CPU time per item over the one-worker engine's (Python and PostgreSQL
together: what the ratio would be if both had the machine to themselves, a steadier figure
on a shared machine than the wall-clock one) and L the 1-minute load average at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import connect, cpu_seconds, django_setup, scratch_database  # noqa: E402

LOAD_BATCH = 2000


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
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # what autovacuum does by itself (see the docstring)
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
    _notices_sent(deal)
    return deal, users


def _notices_sent(deal: Any) -> None:
    """Every customer told a month ago, window closed yesterday: one campaign and one sent
    notice per customer (an identified stage is approved only then), in one statement."""
    from transfers.notice_models import CampaignStatus, Notice, NoticeCampaign, NoticeStatus

    campaign = NoticeCampaign.objects.create(
        deal=deal,
        status=CampaignStatus.SENT,
        objection_deadline=deal.objection_window_closes_at,
        sent_at=deal.notices_sent_at,
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Notice._meta.db_table}"  # noqa: S608 - the model's own table
            " (campaign_id, customer_id, channel, language, status, sent_at, failure_reason,"
            " attempts, fields)"
            " SELECT %s, id, 'email', 'en', %s, %s, '', 1, '[]' FROM customers_customer"
            " WHERE organization_id = %s",
            [campaign.pk, NoticeStatus.SENT, deal.notices_sent_at, deal.seller_id],
        )
        cursor.execute("ANALYZE")


def _with_children(pid: int) -> list[int]:
    """A worker's main process and its pool processes."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                pids.append(int(entry.name))
    return pids


class BackendCpu:
    """CPU time of the PostgreSQL backends serving one database, sampled from /proc.

    Backends come and go (the workers close their connection after each task), so each one
    is sampled while it lives and the last sample counts: a backend's work in its final
    sampling interval is lost, a few tens of milliseconds per task. Unavailable (``None``)
    when the server runs on another host.
    """

    def __init__(self, url: str, *, exclude: set[int]) -> None:
        self.conn = connect(url)
        self.conn.autocommit = True
        self.exclude = exclude
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        with self.conn.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            # The sampler's own backend is visible here only if the server runs on this host.
            self.available = cpu_seconds(cursor.fetchone()[0]) is not None
        self.started = False

    def sample(self) -> None:
        if not self.available:
            return
        with self.conn.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            pids = [pid for (pid,) in cursor.fetchall() if pid not in self.exclude]
        for pid in pids:
            seconds = cpu_seconds(pid)
            if seconds is None:
                continue  # ended between the query and the read
            # Backends alive before the run count from their first sample, new ones from 0.
            self.first.setdefault(pid, seconds if not self.started else 0.0)
            self.last[pid] = seconds
        self.started = True

    def total(self) -> float | None:
        self.conn.close()
        if not self.available:
            return None
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


def _machine_busy() -> tuple[float, float]:
    """Busy and total CPU time of the whole machine so far (every process, /proc/stat)."""
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


def engine_run(url: str, deal: Any, users: Any, workers: int, n: int) -> tuple[float, float | None]:
    """Approve an identified stage with ``workers`` live worker processes; items/s and CPU
    seconds (workers and PostgreSQL) per item."""
    from django.db import connection

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
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own_backend = cursor.fetchone()[0]
    backends = BackendCpu(url, exclude={own_backend})
    load_before = _load()
    try:
        worker_pids = [pid for w in processes for pid in _with_children(w.process.pid)]  # type: ignore[union-attr]
        worker_cpu = sum(cpu_seconds(pid) or 0.0 for pid in worker_pids)
        backends.sample()
        machine = _machine_busy()
        started = time.perf_counter()
        services.stage_approve(actor=users["compliance"], stage=stage, note="benchmark")
        approved = time.perf_counter()
        while True:
            row = HandoverStage.objects.values("status", "done").get(pk=stage.pk)
            backends.sample()
            if row["status"] == StageStatus.DELIVERED:
                break
            if row["status"] == StageStatus.FAILED:
                raise RuntimeError("the stage failed; see var/test-logs")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        worker_cpu = sum(cpu_seconds(pid) or 0.0 for pid in worker_pids) - worker_cpu
        busy, total = (end - start for end, start in zip(_machine_busy(), machine, strict=True))
    finally:
        for worker in processes:
            worker.stop()
    postgres_cpu = backends.total()
    items = HandoverStage.objects.get(pk=stage.pk).items.count()
    assert items == n, f"{items} items for {n} customers"
    rate = n / elapsed
    print(f"engine, {workers} worker(s): {n} items in {elapsed:.1f} s = {rate:,.0f} items/s")
    print(
        f"  of which the approval (checks, {n} customers frozen): {approved - started:.2f} s",
        flush=True,
    )
    _print_cpu(f"engine, {workers} worker(s)", worker_cpu, postgres_cpu, elapsed, n)
    cores = os.cpu_count() or 1
    print(
        f"  whole machine meanwhile: {cores * busy / total:.2f} of {cores} cores busy "
        "(this run's processes and everyone else's)"
    )
    print(f"  load average (1/5 min) before {load_before}, after {_load()}", flush=True)
    return rate, None if postgres_cpu is None else (worker_cpu + postgres_cpu) / n


def _print_cpu(what: str, python: float, postgres: float | None, elapsed: float, n: int) -> None:
    if postgres is None:
        print(f"  {what} CPU: Python {python:.1f} s, PostgreSQL n/a (server on another host)")
        return
    both = python + postgres
    print(
        f"  {what} CPU: Python {python:.1f} s + PostgreSQL {postgres:.1f} s = {both:.1f} s "
        f"({1e6 * both / n:.0f} µs/item); {both / elapsed:.2f} of {os.cpu_count()} cores "
        f"busy over {elapsed:.1f} s"
    )


def floor_run(url: str, deal: Any, n: int) -> tuple[float, float | None]:
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
    conn = connect(url)
    with conn.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE floor_items (stage_id uuid, customer_id uuid, recipient_id int,"
            " snapshot bytea, digest varchar(64), created_at timestamptz)"
        )
    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    backend_cpu = cpu_seconds(backend)
    python_cpu = time.process_time()
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
    python_cpu = time.process_time() - python_cpu
    backend_after = cpu_seconds(backend)
    conn.close()
    assert rows == n
    rate = n / elapsed
    print(f"floor: {n} items in {elapsed:.1f} s = {rate:,.0f} items/s")
    postgres_cpu = None
    if backend_cpu is not None and backend_after is not None:
        postgres_cpu = backend_after - backend_cpu
    _print_cpu("floor", python_cpu, postgres_cpu, elapsed, n)
    return rate, None if postgres_cpu is None else (python_cpu + postgres_cpu) / n


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
        django_setup(url, REDIS_URL=redis_url)
        deal, users = load(args.n)
        floor, floor_cpu = floor_run(url, deal, args.n)
        one, one_cpu = engine_run(url, deal, users, 1, args.n)
        two = one if args.one_worker_only else engine_run(url, deal, users, 2, args.n)[0]
        from django.db import connections

        connections.close_all()
    print(
        f"RESULT items={args.n} items_per_s={one:.0f} floor_per_s={floor:.0f} "
        f"ratio={one / floor:.2f} two_worker_speedup={two / one:.2f} "
        f"cpu_ratio={f'{floor_cpu / one_cpu:.2f}' if floor_cpu and one_cpu else 'n/a'} "
        f"load={os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
