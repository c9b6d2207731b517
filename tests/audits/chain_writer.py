"""Run as a separate process by the concurrency test: append N audit events from one writer.

``python -m tests.audits.chain_writer WRITER COUNT BARRIER_DIR`` starts Django, creates
``BARRIER_DIR/ready-WRITER`` and waits for ``BARRIER_DIR/go`` (so that all writers start
together however long each takes to start), then appends COUNT events, each in its own
transaction as services do.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> None:
    writer, count, barrier = int(argv[0]), int(argv[1]), Path(argv[2])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "transferdesk.settings")
    import django

    django.setup()
    from django.db import connection

    from transferdesk.trail import AuditAction, record_event

    connection.ensure_connection()
    (barrier / f"ready-{writer}").touch()
    deadline = time.monotonic() + 120
    while not (barrier / "go").exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go signal")
        time.sleep(0.01)
    for n in range(count):
        record_event(
            action=AuditAction.UPDATE,
            object_type="tests.writer",
            object_id=writer,
            details={"writer": writer, "n": n},
        )


if __name__ == "__main__":
    main(sys.argv[1:])
