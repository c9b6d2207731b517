"""Benchmark: the cost of the audit chain's advisory lock, in events per second on PostgreSQL.

    DATABASE_URL=postgres://user@host:5432/anydb .venv/bin/python benchmarks/audit_write.py --n N

In a scratch database (created next to the one in DATABASE_URL, dropped afterwards), N events
per writer process (default 2,000), each in its own transaction as services write them:

* chain: ``transferdesk.trail.record_event`` (advisory lock, read the head, HMAC, insert), with
  1 writer and with 4 writer processes at once;
* floor: a plain INSERT of the same row into a copy of the table (same indexes, seq from a
  sequence, no lock, no head, no MAC), with 1 and with 4 writers.

Throughput counts from a shared start instant to the last writer's end; each configuration
runs ``--repeat`` times (default 3), interleaved, and its best run counts. The last line is

    RESULT events=N chain_1w_eps=... chain_4w_eps=... floor_1w_eps=... floor_4w_eps=...
           cost_1w=floor/chain cost_4w=floor/chain

(one line). With one writer the lock costs little; with several, appends queue for the head,
so the chain's rate stays near the one-writer rate while plain inserts scale with the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import django_setup, scratch_database  # noqa: E402

PLAIN_TABLE = "bench_plain_auditevent"


def prepare(url: str) -> None:
    """Migrate the audits app and make the floor's table: same shape and indexes, no trigger."""
    django_setup(url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", "audits", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {PLAIN_TABLE} (LIKE audits_auditevent INCLUDING ALL)")
        cursor.execute(f"CREATE SEQUENCE {PLAIN_TABLE}_seq OWNED BY {PLAIN_TABLE}.seq")
        cursor.execute(
            f"ALTER TABLE {PLAIN_TABLE} ALTER seq SET DEFAULT nextval('{PLAIN_TABLE}_seq')"
        )


def writer(url: str, mode: str, n: int, start_at: float, number: int) -> dict[str, float]:
    """One writer process: N events, each its own transaction, from ``start_at`` on."""
    django_setup(url)
    from django.db import connection
    from django.utils import timezone

    from transferdesk.middleware import set_request_id
    from transferdesk.trail import AuditAction, record_event

    set_request_id(f"bench-writer-{number}")
    connection.ensure_connection()
    time.sleep(max(0.0, start_at - time.time()))
    started = time.time()
    if mode == "chain":
        for i in range(n):
            record_event(
                action=AuditAction.VIEW_CORE,
                object_type="customers.customer",
                object_id=f"{number}-{i}",
                details={"fields": ["email", "phone"], "n": i},
            )
    else:
        sql = (
            f"INSERT INTO {PLAIN_TABLE} (time, actor_name, action, object_type, object_id,"  # noqa: S608
            " deal_ref, request_id, user_agent, details, prev_mac, mac)"
            " VALUES (%s, '', %s, %s, %s, '', %s, '', %s, %s, %s)"
        )
        with connection.cursor() as cursor:
            for i in range(n):
                # Autocommit: every INSERT is its own transaction, like record_event's.
                cursor.execute(
                    sql,
                    [
                        timezone.now(),
                        AuditAction.VIEW_CORE.value,
                        "customers.customer",
                        f"{number}-{i}",
                        f"bench-writer-{number}",
                        json.dumps({"fields": ["email", "phone"], "n": i}),
                        "0" * 64,
                        "0" * 64,
                    ],
                )
    return {"start": started, "end": time.time()}


def run(url: str, mode: str, writers: int, n: int) -> float:
    """Events per second of ``writers`` processes writing N events each."""
    start_at = time.time() + 3  # every process has started Django by then
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--writer",
                mode,
                "--n",
                str(n),
                "--url",
                url,
                "--start-at",
                str(start_at),
                "--number",
                str(w),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(writers)
    ]
    spans = []
    for process in processes:
        out, _ = process.communicate()
        if process.returncode:
            raise SystemExit(f"a {mode} writer failed")
        spans.append(json.loads(out.strip().splitlines()[-1]))
    seconds = max(s["end"] for s in spans) - min(s["start"] for s in spans)
    return writers * n / seconds


def check_chain(url: str, expected: int) -> None:
    django_setup(url)
    from transferdesk.trail.chain import verify_chain

    result = verify_chain()
    if not result.ok or result.count != expected:
        raise SystemExit(f"chain broken after the benchmark: {result}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2_000, help="events per writer process")
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration")
    parser.add_argument("--writer", choices=["chain", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--number", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=["prepare", "check"], help=argparse.SUPPRESS)
    parser.add_argument("--expected", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        print(json.dumps(writer(args.url, args.writer, args.n, args.start_at, args.number)))
        return
    if args.phase == "prepare":
        prepare(args.url)
        return
    if args.phase == "check":
        check_chain(args.url, args.expected)
        return

    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL server (a scratch database is made).")
    with scratch_database(base_url, "td_bench_write") as url:
        own = [sys.executable, __file__, "--url", url]
        subprocess.run([*own, "--phase", "prepare"], cwd=ROOT, check=True)
        # Alternate the configurations and keep each one's best run: commits wait for the
        # disk, whose latency drifts with whatever else the machine does.
        rates: dict[tuple[str, int], float] = {}
        for _ in range(args.repeat):
            for writers in (1, 4):
                for mode in ("chain", "plain"):
                    rate = run(url, mode, writers, args.n)
                    rates[mode, writers] = max(rate, rates.get((mode, writers), 0.0))
                    print(f"{mode} x{writers}: {rate:.0f} events/s", flush=True)
        subprocess.run(
            [*own, "--phase", "check", "--expected", str(5 * args.n * args.repeat)],
            cwd=ROOT,
            check=True,
        )
    print(
        f"RESULT events={args.n} chain_1w_eps={rates['chain', 1]:.0f} "
        f"chain_4w_eps={rates['chain', 4]:.0f} floor_1w_eps={rates['plain', 1]:.0f} "
        f"floor_4w_eps={rates['plain', 4]:.0f} "
        f"cost_1w={rates['plain', 1] / rates['chain', 1]:.2f} "
        f"cost_4w={rates['plain', 4] / rates['chain', 4]:.2f}"
    )


if __name__ == "__main__":
    main()
