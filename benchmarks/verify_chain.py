"""Benchmark: verify an audit chain of N events (default 1,000,000) on PostgreSQL.

    DATABASE_URL=postgres://user@host:5432/anydb .venv/bin/python benchmarks/verify_chain.py --n N

Creates a scratch database next to the one in DATABASE_URL (and drops it afterwards), migrates
the audits app into it, and bulk-loads N chained events with COPY, computing the chain in
Python with the application's own MAC function. Then, each in a fresh process so that peak
memory belongs to that phase alone:

* verify: ``transferdesk.trail.chain.verify_chain(jobs=JOBS)``, exactly what
  ``verify_audit_chain`` runs
  (``--jobs`` defaults to the command's default: the CPUs, at most 4), and again in one
  process;
* floor: the least work that can check the same chain in one process, with no Django: a
  psycopg2 server-side cursor streaming the same columns, the same canonical JSON, the same
  HMAC.

Goal (issue 6): under 20 s for 1,000,000 events, in constant memory. The last line is

    RESULT events=N seconds=S floor_seconds=F ratio=S/F peak_mb=M

where S is the command's time and M the largest resident set of any of its processes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hmac
import io
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import connect, django_setup, scratch_database  # noqa: E402

COLUMNS = (
    "seq", "time", "actor_id", "actor_name", "action", "object_type", "object_id", "deal_ref",
    "request_id", "ip", "user_agent", "details", "prev_mac", "mac",
)  # fmt: skip
LOAD_CHUNK = 50_000


def _peak_mb() -> float:
    """The largest resident set of this process or any of its children (Linux: kilobytes)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def _phase(name: str, url: str, n: int, jobs: int = 1) -> dict[str, Any]:
    """Run one phase in its own process; it prints one JSON line last."""
    out = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--n", str(n), "--url", url,
         "--jobs", str(jobs)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- phases ----------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A value in COPY's text format."""
    if value is None:
        return r"\N"
    text = value if isinstance(value, str) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def phase_load(url: str, n: int, jobs: int) -> dict[str, Any]:
    """Migrate and COPY in N chained events, as varied as everyday traffic."""
    django_setup(url)
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import User
    from transferdesk.trail import GENESIS_MAC, AuditAction
    from transferdesk.trail.chain import audit_key, compute_mac

    call_command("migrate", "audits", verbosity=0)
    users = [User.objects.create(username=f"bench{i}") for i in range(5)]
    key = audit_key()
    actions = list(AuditAction.values)
    deals = [str(uuid.uuid4()) for _ in range(20)]
    t0 = dt.datetime.now(dt.UTC) - dt.timedelta(days=365)
    agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120"
    prev = GENESIS_MAC
    started = time.perf_counter()
    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor() as cursor:
        for start in range(1, n + 1, LOAD_CHUNK):
            buffer = io.StringIO()
            for seq in range(start, min(start + LOAD_CHUNK, n + 1)):
                user = users[seq % 5] if seq % 3 else None
                row = {
                    "seq": seq,
                    "time": t0 + dt.timedelta(microseconds=seq * 31_337),
                    "actor_id": user.pk if user else None,
                    "actor_name": user.username if user else "",
                    "action": actions[seq % len(actions)],
                    "object_type": "customers.customer",
                    "object_id": str(uuid.UUID(int=seq * 7919)),
                    "deal_ref": deals[seq % 20],
                    "request_id": f"{seq:032x}",
                    "ip": f"10.{seq % 250}.{(seq // 250) % 250}.{seq % 7 + 1}" if user else None,
                    "user_agent": agent if user else "",
                    "details": {"fields": ["email", "phone"], "n": seq % 1000},
                    "prev_mac": prev,
                }
                row["mac"] = prev = compute_mac(key, row)
                row["time"] = row["time"].isoformat()
                row["details"] = json.dumps(row["details"])
                buffer.write("\t".join(_text(row[c]) for c in COLUMNS) + "\n")
            buffer.seek(0)
            cursor.copy_expert(f"COPY audits_auditevent ({', '.join(COLUMNS)}) FROM STDIN", buffer)
        raw.commit()
    loaded = time.perf_counter() - started
    raw.autocommit = True
    with raw.cursor() as cursor:
        # Set hint bits and statistics now, so that neither measured phase pays for them.
        cursor.execute("VACUUM (ANALYZE) audits_auditevent")
    return {"load_seconds": loaded, "head_mac": prev}


def phase_verify(url: str, n: int, jobs: int) -> dict[str, Any]:
    """What ``verify_audit_chain --jobs JOBS`` runs."""
    django_setup(url)
    from transferdesk.trail.chain import verify_chain

    base_mb = _peak_mb()
    started = time.perf_counter()
    result = verify_chain(jobs=jobs)
    seconds = time.perf_counter() - started
    if not result.ok or result.count != n:
        raise SystemExit(f"verification failed: {result}")
    return {"seconds": seconds, "peak_mb": _peak_mb(), "base_mb": base_mb, "head": result.head_mac}


def phase_floor(url: str, n: int, jobs: int) -> dict[str, Any]:
    """The same check with no Django: psycopg2 named cursor, canonical JSON, HMAC."""
    import base64

    import psycopg2.extras

    raw_key = os.environ.get("TRANSFERDESK_AUDIT_KEY") or _dev_audit_key()
    key = base64.urlsafe_b64decode(raw_key + "=" * (-len(raw_key) % 4))
    names = COLUMNS[:-1]
    utc = dt.UTC
    encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    conn = connect(url)
    psycopg2.extras.register_default_jsonb(conn)
    base_mb = _peak_mb()
    started = time.perf_counter()
    count, prev, bad = 0, "0" * 64, 0
    with conn.cursor(name="floor") as cursor:
        cursor.itersize = 10_000
        cursor.execute(
            f"SELECT {', '.join(COLUMNS)} FROM audits_auditevent ORDER BY seq"  # noqa: S608
        )
        for values in cursor:
            doc = dict(zip(names, values, strict=False))
            doc["time"] = doc["time"].astimezone(utc).isoformat(timespec="microseconds")
            message = values[12].encode() + encoder.encode(doc).encode()
            if hmac.digest(key, message, "sha256").hex() != values[13] or values[12] != prev:
                bad += 1
            prev = values[13]
            count += 1
    seconds = time.perf_counter() - started
    conn.close()
    if bad or count != n:
        raise SystemExit(f"floor disagrees with the chain: {bad} bad of {count}")
    return {"seconds": seconds, "peak_mb": _peak_mb(), "base_mb": base_mb}


def _dev_audit_key() -> str:
    """The development key that settings would read (``.local/secrets.env``)."""
    path = Path(os.environ.get("TRANSFERDESK_DEV_SECRETS", ROOT / ".local" / "secrets.env"))
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("TRANSFERDESK_AUDIT_KEY="):
            return line.split("=", 1)[1].strip()
    raise SystemExit("TRANSFERDESK_AUDIT_KEY is not set")


PHASES = {"load": phase_load, "verify": phase_verify, "floor": phase_floor}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="processes for verify (the command's default: CPUs, at most 4)",
    )
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args.url, args.n, args.jobs)))
        return

    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL server (a scratch database is made).")
    with scratch_database(base_url, "td_bench_verify") as url:
        load = _phase("load", url, args.n)
        print(f"loaded {args.n} events in {load['load_seconds']:.1f} s", flush=True)
        verify = _phase("verify", url, args.n, args.jobs)
        single = _phase("verify", url, args.n, 1) if args.jobs > 1 else verify
        floor = _phase("floor", url, args.n)
    if verify["head"] != load["head_mac"]:
        raise SystemExit("verify reported another head than the one loaded")
    print(
        f"verify in one process: {single['seconds']:.2f} s, peak {single['peak_mb']:.0f} MB; "
        f"floor / one process: {floor['seconds'] / single['seconds']:.2f}"
    )
    print(
        f"verify --jobs {args.jobs}: {verify['seconds']:.2f} s, peak {verify['peak_mb']:.0f} MB "
        f"per process "
        f"(after start-up {verify['base_mb']:.0f} MB); floor: {floor['seconds']:.2f} s, "
        f"peak {floor['peak_mb']:.0f} MB (after start-up {floor['base_mb']:.0f} MB)"
    )
    print(
        f"RESULT events={args.n} seconds={verify['seconds']:.2f} "
        f"floor_seconds={floor['seconds']:.2f} ratio={verify['seconds'] / floor['seconds']:.2f} "
        f"peak_mb={verify['peak_mb']:.0f}"
    )


if __name__ == "__main__":
    main()
