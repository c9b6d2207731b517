"""``flush``, which also empties the append-only audit table on PostgreSQL.

Django's ``flush`` (run by the test framework after every transactional test, and by an
operator wiping a database) truncates every table in one statement; the audit table's TRUNCATE
trigger would refuse it. This command is Django's, with the trigger switched off for the
duration of the flush, inside one transaction so that it cannot stay off. Only the table's
owner may switch a trigger off, so the application's role still cannot use this to erase the
trail (see ``audits/sql/app_role.sql``).
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import flush
from django.db import connections, transaction

TABLE = "audits_auditevent"
TRIGGER = "audits_auditevent_no_truncate"


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        connection = connections[options["database"]]
        if connection.vendor != "postgresql" or not _has_trigger(connection):
            return super().handle(**options)
        with transaction.atomic(using=options["database"]):
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TRIGGER}")
            super().handle(**options)
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER {TRIGGER}")
        return None


def _has_trigger(connection: Any) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_trigger WHERE tgname = %s AND tgrelid = to_regclass(%s)",
            [TRIGGER, TABLE],
        )
        return cursor.fetchone() is not None
