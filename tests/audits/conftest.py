"""Helpers for audit tests: tamper with the stored chain as an attacker with database access."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from django.db import connection

from transferdesk.trail import AuditAction, AuditEvent, record_event

Tamper = Callable[[str, Sequence[Any]], None]


@pytest.fixture
def tamper(db: None) -> Tamper:
    """Run raw SQL on the audit table the way a database superuser would.

    On PostgreSQL the append-only triggers are switched off around the statement and switched
    on again afterwards (``ALTER TABLE ... DISABLE TRIGGER``), as an attacker holding the
    owner's or a superuser's credentials can; SQLite has no trigger to switch off.
    """

    def run(sql: str, params: Sequence[Any] = ()) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # Deferred foreign-key checks of this test's inserts must run before an ALTER.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("ALTER TABLE audits_auditevent DISABLE TRIGGER USER")
            cursor.execute(sql, params)
            if connection.vendor == "postgresql":
                cursor.execute("ALTER TABLE audits_auditevent ENABLE TRIGGER USER")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")

    return run


@pytest.fixture
def chain(db: None) -> list[AuditEvent]:
    """Six events with distinct content, as a trail of everyday work would look."""
    return [
        record_event(
            action=AuditAction.UPDATE,
            object_type="customers.customer",
            object_id=f"00000000-0000-0000-0000-00000000000{n}",
            deal="11111111-2222-3333-4444-555555555555",
            details={"n": n, "fields": ["email", "phone"]},
        )
        for n in range(1, 7)
    ]
