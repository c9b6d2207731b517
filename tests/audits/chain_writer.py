"""Run as a separate process by the concurrency test: append N audit events from one writer.

``python -m tests.audits.chain_writer WRITER COUNT START_AT`` waits until the Unix time
START_AT, so that all writers start together, then appends COUNT events, each in its own
transaction as services do.
"""

from __future__ import annotations

import os
import sys
import time


def main(argv: list[str]) -> None:
    writer, count, start_at = int(argv[0]), int(argv[1]), float(argv[2])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "transferdesk.settings")
    import django

    django.setup()
    from audits.choices import AuditAction
    from audits.services import record_event

    time.sleep(max(0.0, start_at - time.time()))
    for n in range(count):
        record_event(
            action=AuditAction.UPDATE,
            object_type="tests.writer",
            object_id=writer,
            details={"writer": writer, "n": n},
        )


if __name__ == "__main__":
    main(sys.argv[1:])
