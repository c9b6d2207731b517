"""Benchmark: the peak memory of importing a large customer file through the upload flow,
against a bare reading of the same file.

    DATABASE_URL=postgres://user@host:5432/anydb \
        .venv/bin/python benchmarks/import_memory.py --n N [--pad CHARS]

In a scratch database (created next to the one in DATABASE_URL, migrated, dropped afterwards),
a CSV of N customers (default 100,000, with a preferences text of CHARS characters each, so
that the default file weighs about 50 MB, the largest the upload page takes) is written to a
temporary file, then each phase runs in a process of its own and reports that process's
maximum resident set:

* floor: Django set up, the file read into memory and every row read by a bare ``csv.reader``
  over a text stream of it: what any importer must hold (the interpreter, the framework, the
  file's bytes);
* import: Django set up, the file read into memory, then what the page and the job do with
  it: ``import_upload_create`` (header, row count, the file kept encrypted) and
  ``import_upload_run`` (decrypt, validate every row, encrypt and write every customer in one
  transaction, wipe the file).

The last line is

    RESULT rows=N file_mb=F floor_mb=M peak_mb=P ratio=P/M over_file=(P-M)/F seconds=S
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import django_setup, run_phase, scratch_database
from import_customers import HEADER, rows


def write_file(path: Path, n: int, pad: int) -> int:
    """The CSV of ``n`` customers (the import benchmark's), each with a preferences text."""
    preferences = ("偏好安静的联系方式。周末不打电话。" * pad)[:pad]
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([*HEADER, "偏好"])
        for row in rows(n):
            writer.writerow([*row, preferences])
    return path.stat().st_size


def prepare(url: str) -> None:
    django_setup(url)
    from django.core.management import call_command

    from customers.models import Organization

    call_command("migrate", verbosity=0)
    Organization.objects.create(
        slug="bench-memory", legal_name="bench-memory", kind="seller", country="CN"
    )


def run_floor(url: str, path: Path) -> dict[str, Any]:
    django_setup(url)
    data = path.read_bytes()
    count = 0
    for _row in csv.reader(io.TextIOWrapper(io.BytesIO(data), "utf-8", newline="")):
        count += 1
    return {"rows": count - 1}


def run_import(url: str, path: Path) -> dict[str, Any]:
    django_setup(url)
    from customers.models import Customer, ImportStatus, ImportUpload, Organization
    from customers.services import import_upload_create, import_upload_run

    organization = Organization.objects.get(slug="bench-memory")
    data = path.read_bytes()
    started = time.perf_counter()
    upload = import_upload_create(actor=None, organization=organization, data=data)
    del data
    # What ``import_upload_start`` does before it hands the upload to the job.
    ImportUpload.objects.filter(pk=upload.pk).update(status=ImportStatus.RUNNING)
    outcome = import_upload_run(upload_id=upload.pk)
    seconds = time.perf_counter() - started
    if not outcome.applied:
        raise SystemExit(f"import failed: {outcome.problems[:5]}")
    return {
        "rows": Customer.objects.filter(organization=organization).count(),
        "seconds": seconds,
    }


def child(url: str, phase: str, path: Path) -> dict[str, Any]:
    return run_phase(__file__, url, phase, "--file", str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="customers in the file")
    parser.add_argument("--pad", type=int, default=130, help="characters of preferences each")
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=["prepare", "import", "floor"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "prepare":
        prepare(args.url)
        print("{}")
        return
    if args.phase in ("import", "floor"):
        result = (run_import if args.phase == "import" else run_floor)(args.url, args.file)
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    base_url = os.environ.get("DATABASE_URL", "")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "customers.csv"
        size = write_file(path, args.n, args.pad)
        with scratch_database(base_url, "td_bench_import_memory") as url:
            child(url, "prepare", path)
            floor = child(url, "floor", path)
            imported = child(url, "import", path)
    if imported["rows"] != args.n or floor["rows"] != args.n:
        raise SystemExit(f"expected {args.n} rows: {imported['rows']} imported, {floor['rows']}")
    file_mb = size / 2**20
    ratio = imported["peak_mb"] / floor["peak_mb"]
    over = (imported["peak_mb"] - floor["peak_mb"]) / file_mb
    print(f"file:   {args.n} rows, {file_mb:.1f} MB")
    print(f"floor:  peak {floor['peak_mb']:.0f} MB (Django, the file, a bare csv.reader pass)")
    print(
        f"import: peak {imported['peak_mb']:.0f} MB, {imported['seconds']:.1f} s "
        f"(upload kept encrypted, then validated, encrypted and written in one transaction)"
    )
    print(
        f"RESULT rows={args.n} file_mb={file_mb:.1f} floor_mb={floor['peak_mb']:.0f} "
        f"peak_mb={imported['peak_mb']:.0f} ratio={ratio:.2f} over_file={over:.2f} "
        f"seconds={imported['seconds']:.1f}"
    )


if __name__ == "__main__":
    main()
