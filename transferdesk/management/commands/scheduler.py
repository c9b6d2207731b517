"""Run the periodic jobs in the embedded default (no broker), as ``celery beat`` does with one.

Each schedule entry first runs one interval after the scheduler starts (or after its last
recorded run, so a restart does not run every job again at once), then every interval; the task
runs in this process (tasks are in-process without a broker) and its run is recorded
(``transferdesk.periodic``). ``make run`` starts it beside the web server.
"""

from __future__ import annotations

import logging
import signal
import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections, connection
from django.utils import timezone

from transferdesk.celery import app
from transferdesk.periodic import PeriodicRun, interval, schedule

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the periodic jobs in-process (the embedded default; use celery beat with a broker)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--for-seconds",
            type=float,
            default=0,
            help="stop after this long (0: run until interrupted)",
        )
        parser.add_argument("--tick", type=float, default=1.0, help="seconds between checks")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            raise CommandError("a broker is configured: run `celery beat` instead")
        app.loader.import_default_modules()  # the task modules, as a worker imports them
        self._stop = False
        signal.signal(signal.SIGTERM, lambda *_a: setattr(self, "_stop", True))
        due = self._first_due(timezone.now())
        deadline = time.monotonic() + options["for_seconds"] if options["for_seconds"] else None
        ran = failed = 0
        while not self._stop and (deadline is None or time.monotonic() < deadline):
            now = timezone.now()
            for name, entry in schedule().items():
                if due[name] > now:
                    continue
                due[name] = now + interval(entry)
                ok = self._run(name, entry)
                ran, failed = ran + 1, failed + (not ok)
            if not connection.in_atomic_block:  # a test runs the command inside one
                close_old_connections()
            time.sleep(options["tick"])
        self.stdout.write(f"scheduler: {ran} run(s), {failed} failed")

    def _first_due(self, now: datetime) -> dict[str, datetime]:
        due = {}
        for name, entry in schedule().items():
            last = PeriodicRun.objects.filter(task=entry["task"]).first()
            due[name] = (last.started_at if last else now) + interval(entry)
        return due

    def _run(self, name: str, entry: dict[str, Any]) -> bool:
        # Not thrown: Celery then handles the failure as a worker does (the task_failure
        # signal records why), and the next runs go on.
        result = app.tasks[str(entry["task"])].apply(throw=False)
        if result.failed():
            logger.error("periodic job %s failed: %r", name, result.result)
            return False
        return True
