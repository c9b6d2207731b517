"""Two shredders at once, on a real PostgreSQL: two purges of one policy make one run and no
failure; an erasure during a purge of the same customer waits and finds it gone.

Each purge runs in its own thread, hence on its own database connection, as two worker
processes would. A third connection holds one customer's data key row, so the first purge is
stopped inside its first chunk transaction, holding what it holds, while the second starts: the
overlap is forced by a lock, not by timing.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection, connections

from accounts.choices import Role
from audits.backups import _pg_connect
from audits.models import DestructionTombstone, PurgeRun, RetentionPolicy
from audits.retention import customer_erase, purge_policy
from customers.models import Customer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LONG_AGO = dt.date(2020, 1, 1)


@pytest.fixture(autouse=True)
def _roles(transactional_db: None) -> None:
    """The role groups come from a data migration, which the flush after an earlier
    transactional test removed; the cast needs them (compliance saves the policy)."""
    for role in Role:
        Group.objects.get_or_create(name=str(role))


def _waiting_on_locks() -> int:
    """Backends of the test database waiting for a lock (the blocked shredders)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll a condition (bounded, so a broken build fails instead of hanging)."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.02)


class _InThread(threading.Thread):
    """Run ``work`` on its own thread and database connection; keep its result or error."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.work, self.result, self.error = work, None, None

    def run(self) -> None:
        try:
            self.result = self.work()
        except Exception as exc:  # noqa: BLE001 - the test asserts on it
            self.error = exc
        finally:
            connections.close_all()  # this thread's connections only


class _KeyRowHeld:
    """A third connection holding one data key row (``FOR UPDATE``) until released."""

    def __init__(self, data_key_id: Any) -> None:
        settings = connection.settings_dict
        self.conn = _pg_connect(settings, settings["NAME"])
        with self.conn.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM transferdesk_datakey WHERE id = %s FOR UPDATE", [str(data_key_id)]
            )

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()


def test_two_purges_of_one_policy_at_once_make_one_run_and_no_failed_run(
    cast, make_customer, contract_policy
):
    customers = [make_customer(retention_until=LONG_AGO)[0] for _ in range(3)]
    policy = contract_policy()
    held = _KeyRowHeld(customers[0].data_key_id)
    try:
        first = _InThread(lambda: purge_policy(policy=RetentionPolicy.objects.get(pk=policy.pk)))
        first.start()
        _wait_until(lambda: _waiting_on_locks() >= 1, "the first purge inside its chunk")
        second = _InThread(lambda: purge_policy(policy=RetentionPolicy.objects.get(pk=policy.pk)))
        second.start()
        # The second either leaves at once or (without the run lock) blocks behind the first.
        _wait_until(lambda: not second.is_alive() or _waiting_on_locks() >= 2, "the second purge")
    finally:
        held.release()
    first.join(60)
    second.join(60)
    assert (first.error, second.error) == (None, None)
    assert second.result.already_running and second.result.run is None
    assert first.result.customers == 3
    run = PurgeRun.objects.get()  # one run, whole, not failed
    assert (run.status, run.customers, run.error) == ("succeeded", 3, "")
    assert DestructionTombstone.objects.count() == 3
    assert not Customer.objects.filter(pk__in=[c.pk for c in customers]).exists()
    # Run again afterwards: the lock was released, and there is nothing left to do.
    again = purge_policy(policy=policy)
    assert not again.already_running and again.customers == 0


def test_an_erasure_during_a_purge_of_the_same_customer_waits_and_finds_it_gone(
    cast, make_customer, contract_policy
):
    customers = [make_customer(retention_until=LONG_AGO)[0] for _ in range(2)]
    victim = customers[0]
    policy = contract_policy()
    held = _KeyRowHeld(victim.data_key_id)
    try:
        purge = _InThread(lambda: purge_policy(policy=RetentionPolicy.objects.get(pk=policy.pk)))
        purge.start()
        _wait_until(lambda: _waiting_on_locks() >= 1, "the purge inside its chunk")
        erase = _InThread(
            lambda: customer_erase(
                actor=cast.compliance,
                customer=Customer.objects.get(pk=victim.pk),
                request_ref="REQ-RACE",
            )
        )
        erase.start()
        _wait_until(lambda: not erase.is_alive() or _waiting_on_locks() >= 2, "the erasure")
    finally:
        held.release()
    purge.join(60)
    erase.join(60)
    assert purge.error is None
    assert isinstance(erase.error, ValidationError)
    assert "already erased" in " ".join(erase.error.messages)
    assert not PurgeRun.objects.filter(status="failed").exists()
    assert purge.result.customers == 2
    assert DestructionTombstone.objects.count() == 2
