"""Benchmark: build the deal audit report over N events (default 100,000).

    .venv/bin/python benchmarks/audit_report.py --n N [--keep]

Creates a scratch SQLite database in a temporary directory (migrated from scratch, removed
afterwards unless ``--keep``), opens one deal through the services, and seeds N events of that
deal with ``bulk_create`` (chained with the application's own MAC function, mixed actions, a
Chinese actor name on every fifth event, small ``details``). Then, each in a fresh process so
that its peak memory belongs to that phase alone:

* report: ``audits.reports.render_report(kind="deal_audit")`` to a file, exactly what the
  report job and ``audit_report`` run (title page, all sections, the streamed timeline);
* floor: the same timeline rows, fetched the same way, drawn straight onto a reportlab canvas
  (same fonts, one ``drawString`` per cell, a new page every 60 rows), with no platypus, no
  tables, no wrapping.

Goal (issue 6): under 30 s and under 300 MB for 100,000 events. The last line is

    RESULT events=N seconds=S floor_seconds=F ratio=S/F peak_mb=M

where S and M are the report phase's time and largest resident set. Each phase's CPU time is
printed too: on a shared machine the wall-clock times vary with the load, the CPU times much
less.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SEED_BATCH = 5_000
DEAL = "BENCH-1"


def _django(db_file: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{db_file}"
    os.environ["DATABASE_CONN_MAX_AGE"] = "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "transferdesk.settings")
    import django

    django.setup()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(db_file: Path, n: int) -> None:
    """Migrate a fresh database and load one deal with ``n`` chained events."""
    _django(db_file)
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.utils import timezone

    from accounts.choices import Role
    from accounts.models import User
    from customers.models import Organization
    from transferdesk.trail import GENESIS_MAC, AuditAction, AuditEvent
    from transferdesk.trail.chain import audit_key, compute_mac
    from transferdesk.trail.services import _row
    from transfers.services import deal_create

    call_command("migrate", verbosity=0)
    broker = User.objects.create(username="bench-broker")
    broker.groups.set(Group.objects.filter(name=str(Role.BROKER)))
    seller = Organization.objects.create(
        slug="s", legal_name="美瑞家电有限公司", kind="seller", country="CN"
    )
    buyer = Organization.objects.create(
        slug="b", legal_name="东湖商贸有限公司", kind="buyer", country="CN"
    )
    deal = deal_create(
        actor=broker,
        reference=DEAL,
        title="客户转让 benchmark",
        seller=seller,
        buyer=buyer,
        purposes="Continue the service contracts.",
        legal_basis="Contract",
    )
    head = AuditEvent.objects.order_by("-seq").values_list("seq", "mac").first()
    seq, prev = head if head else (0, GENESIS_MAC)
    key = audit_key()
    actions = [
        AuditAction.VIEW_SENSITIVE,
        AuditAction.VIEW_CORE,
        AuditAction.EXPORT,
        AuditAction.UPDATE,
        AuditAction.PORTAL_VIEW,
        AuditAction.GRANT,
    ]
    start = timezone.now()
    batch: list[AuditEvent] = []
    for i in range(n):
        seq += 1
        event = AuditEvent(
            seq=seq,
            time=start + timezone.timedelta(milliseconds=i),
            actor=broker,
            actor_name="王芳" if i % 5 == 0 else "bench-broker",
            action=actions[i % len(actions)].value,
            object_type="customers.customer",
            object_id=f"{i:032x}",
            deal_ref=str(deal.pk),
            request_id=f"req-{i}",
            details={"fields": ["email", "phone"], "n": i},
            prev_mac=prev,
        )
        event.mac = compute_mac(key, _row(event))
        prev = event.mac
        batch.append(event)
        if len(batch) == SEED_BATCH:
            AuditEvent.objects.bulk_create(batch)
            batch = []
    if batch:
        AuditEvent.objects.bulk_create(batch)


def phase_report(db_file: Path, out: Path) -> dict[str, Any]:
    _django(db_file)
    from audits.reports import render_report
    from audits.reports.common import ReportParams

    started, cpu = time.perf_counter(), time.process_time()
    rendered = render_report(
        kind="deal_audit", params=ReportParams(deal=DEAL), target=str(out), generated_by="bench"
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "peak_mb": _peak_mb(),
        "rows": rendered.rows,
        "pages": rendered.pages,
        "bytes": out.stat().st_size,
    }


def phase_floor(db_file: Path, out: Path) -> dict[str, Any]:
    """The same rows, fetched the same way, drawn with no layout engine at all."""
    _django(db_file)
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    from audits.reports.common import CHUNK, EVENT_FIELDS, action_labels, local, summarise
    from transferdesk.pdf import CJK, LATIN, register_fonts
    from transferdesk.trail import AuditEvent
    from transfers.models import TransferDeal

    register_fonts()
    started, cpu = time.perf_counter(), time.process_time()
    deal = TransferDeal.objects.get(reference=DEAL)
    labels = action_labels()
    canvas = Canvas(str(out), pagesize=A4)
    xs = [40, 80, 170, 240, 340, 430]
    y, rows, pages = 800, 0, 1
    events = (
        AuditEvent.objects.filter(deal_ref=str(deal.pk))
        .order_by("seq")
        .values_list(*EVENT_FIELDS)
        .iterator(chunk_size=CHUNK)
    )
    for seq, when, actor, action, otype, oid, details in events:
        cells = [
            str(seq),
            local(when),
            actor,
            labels.get(action, action),
            f"{otype.rsplit('.', 1)[-1]} {oid}"[:28],
            summarise(details)[:40],
        ]
        for x, text in zip(xs, cells, strict=True):
            canvas.setFont(CJK if not text.isascii() else LATIN, 7)
            canvas.drawString(x, y, text)
        rows += 1
        y -= 12
        if y < 60:
            canvas.showPage()
            pages += 1
            y = 800
    canvas.save()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "peak_mb": _peak_mb(),
        "rows": rows,
        "pages": pages,
    }


def _run_phase(name: str, db_file: Path, out: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--db", str(db_file), "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--phase", choices=["report", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phase = phase_report if args.phase == "report" else phase_floor
        print(json.dumps(phase(Path(args.db), Path(args.out))))
        return

    scratch = Path(tempfile.mkdtemp(prefix="td-audit-report-"))
    db_file = scratch / "bench.sqlite3"
    try:
        started = time.perf_counter()
        seed_proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; sys.path.insert(0, sys.argv[1]); from benchmarks.audit_report import "
                "seed; from pathlib import Path; seed(Path(sys.argv[2]), int(sys.argv[3]))",
                str(ROOT),
                str(db_file),
                str(args.n),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if seed_proc.returncode:
            sys.exit(seed_proc.stderr)
        print(
            f"seeded {args.n} events into a scratch SQLite file in "
            f"{time.perf_counter() - started:.1f} s"
        )
        report = _run_phase("report", db_file, scratch / "report.pdf")
        print(
            f"report: {report['seconds']:.2f} s ({report['cpu_seconds']:.2f} s CPU), "
            f"{report['pages']} pages, "
            f"{report['bytes'] / 1e6:.1f} MB, {report['rows']} rows, peak "
            f"{report['peak_mb']:.0f} MB"
        )
        floor = _run_phase("floor", db_file, scratch / "floor.pdf")
        print(
            f"floor (canvas, no platypus): {floor['seconds']:.2f} s "
            f"({floor['cpu_seconds']:.2f} s CPU), {floor['pages']} pages, "
            f"peak {floor['peak_mb']:.0f} MB"
        )
        ratio = report["seconds"] / floor["seconds"] if floor["seconds"] else float("inf")
        print(
            f"RESULT events={args.n} seconds={report['seconds']:.2f} "
            f"floor_seconds={floor['seconds']:.2f} ratio={ratio:.2f} "
            f"peak_mb={report['peak_mb']:.0f}"
        )
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
