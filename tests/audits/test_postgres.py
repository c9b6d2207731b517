"""PostgreSQL only: the append-only trigger, the application role, and concurrent writers."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from tests.support.worker import ROOT, database_url
from transferdesk.trail import AuditAction, AuditEvent, record_event
from transferdesk.trail.chain import verify_chain

pytestmark = pytest.mark.postgres


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audits_auditevent SET actor_name = 'x' WHERE seq = 1",
        "DELETE FROM audits_auditevent WHERE seq = 1",
        "TRUNCATE audits_auditevent",
    ],
    ids=["update", "delete", "truncate"],
)
def test_the_trigger_refuses_to_change_or_remove_audit_events(sql):
    record_event(action=AuditAction.CREATE)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # else TRUNCATE waits on FK checks
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert AuditEvent.objects.filter(seq=1, actor_name="").exists()


@pytest.mark.django_db
def test_the_orm_cannot_update_or_delete_audit_events_either():
    event = record_event(action=AuditAction.CREATE)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(seq=event.seq).update(object_id="x")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(seq=event.seq).delete()


@pytest.mark.django_db
def test_an_attacker_with_superuser_access_can_disable_the_trigger_but_is_named(chain):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE audits_auditevent DISABLE TRIGGER USER")
        cursor.execute("UPDATE audits_auditevent SET object_id = 'other' WHERE seq = 2")
        cursor.execute("ALTER TABLE audits_auditevent ENABLE TRIGGER USER")

    result = verify_chain()
    assert (result.ok, result.first_bad_seq) == (False, 2)


@pytest.fixture
def app_role(db: None) -> str:
    """A role like the application's: INSERT and SELECT on the audit table, nothing more.

    Created inside the test's transaction, so it vanishes with the rollback.
    """
    role = f"td_app_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        cursor.execute(f"GRANT SELECT, INSERT ON audits_auditevent TO {role}")
        # Referencing the actor needs nothing on the user table; the row check runs as owner.
    return role


@pytest.mark.django_db
def test_the_application_role_can_append_but_not_update_delete_or_disable_the_trigger(
    app_role,
):
    record_event(action=AuditAction.CREATE)
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {app_role}")
    try:
        record_event(action=AuditAction.UPDATE)  # lock, read the head, insert: all allowed
        for sql in (
            "UPDATE audits_auditevent SET actor_name = 'x'",
            "DELETE FROM audits_auditevent",
            "TRUNCATE audits_auditevent",
            "ALTER TABLE audits_auditevent DISABLE TRIGGER USER",
        ):
            with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    assert verify_chain().count == 2


@pytest.mark.django_db(transaction=True)
def test_four_processes_writing_500_events_each_leave_one_unbroken_chain(tmp_path):
    writers, per_writer = 4, 500
    env = {**os.environ, "DATABASE_URL": database_url(), "DATABASE_CONN_MAX_AGE": "0"}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.audits.chain_writer",
                str(w),
                str(per_writer),
                str(tmp_path),
            ],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
        )
        for w in range(writers)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < writers and time.monotonic() < deadline:
        time.sleep(0.05)
    (tmp_path / "go").touch()  # all four are connected: let them write at once
    errors = [p.communicate(timeout=300)[1].decode() for p in processes]
    assert [p.returncode for p in processes] == [0] * writers, errors

    result = verify_chain()
    assert result.ok, result.message
    assert (result.count, result.head_seq) == (2000, 2000)
    order = list(AuditEvent.objects.order_by("seq").values_list("details__writer", flat=True))
    for w in range(writers):
        assert sorted(
            d["n"]
            for d in AuditEvent.objects.filter(details__writer=w).values_list("details", flat=True)
        ) == list(range(per_writer))
    runs = sum(1 for _ in itertools.groupby(order))
    assert runs > writers, "the writers did not actually run at the same time"


def _manage(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url(), "DATABASE_CONN_MAX_AGE": "0"}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


@pytest.mark.django_db(transaction=True)
def test_verify_audit_chain_exits_0_with_one_line_then_1_naming_a_deleted_event():
    events = [record_event(action=AuditAction.EXPORT, details={"rows": n}) for n in range(3)]

    ok = _manage("verify_audit_chain")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == f"verify_audit_chain: OK 3 events, head 3 {events[-1].mac}\n"

    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audits_auditevent DISABLE TRIGGER USER")
        try:
            cursor.execute("DELETE FROM audits_auditevent WHERE seq = 2")
        finally:
            cursor.execute("ALTER TABLE audits_auditevent ENABLE TRIGGER USER")

    broken = _manage("verify_audit_chain")
    assert broken.returncode == 1
    assert "FAILED at event 2 (removed)" in broken.stderr


@pytest.mark.django_db(transaction=True)
def test_flush_empties_the_audit_table_and_leaves_the_truncate_trigger_on():
    from django.core.management import call_command

    record_event(action=AuditAction.CREATE)
    call_command("flush", interactive=False, verbosity=0)

    assert not AuditEvent.objects.exists()
    record_event(action=AuditAction.CREATE)
    with pytest.raises(DatabaseError, match="append-only"), connection.cursor() as cursor:
        cursor.execute("TRUNCATE audits_auditevent")


@pytest.fixture
def long_chain(transactional_db: None, monkeypatch: pytest.MonkeyPatch) -> list[AuditEvent]:
    """A committed chain that the parallel verifier splits into ranges (threshold lowered)."""
    from transferdesk.trail import chain as chain_module

    monkeypatch.setattr(chain_module, "PARALLEL_MIN_EVENTS", 10)
    return [record_event(action=AuditAction.VIEW_CORE, details={"n": n}) for n in range(40)]


def _superuser_sql(sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audits_auditevent DISABLE TRIGGER USER")
        try:
            cursor.execute(sql)
        finally:
            cursor.execute("ALTER TABLE audits_auditevent ENABLE TRIGGER USER")


def test_verifying_in_several_processes_gives_the_same_answer_on_a_clean_chain(long_chain):
    assert verify_chain(jobs=3) == verify_chain(jobs=1)
    assert verify_chain(jobs=3).count == 40


@pytest.mark.parametrize(
    ("sql", "seq", "problem"),
    [
        ("UPDATE audits_auditevent SET details = '{\"n\": 0}' WHERE seq = 27", 27, "altered"),
        ("DELETE FROM audits_auditevent WHERE seq = 14", 14, "removed"),
        ("DELETE FROM audits_auditevent WHERE seq = 40", None, None),  # a shorter chain
        ("UPDATE audits_auditevent SET prev_mac = mac WHERE seq = 30", 30, "reordered"),
    ],
    ids=["altered", "removed-at-a-range-boundary", "tail-removed", "relinked"],
)
def test_verifying_in_several_processes_names_the_same_event_as_one_process(
    long_chain, sql, seq, problem
):
    _superuser_sql(sql)
    parallel, single = verify_chain(jobs=3), verify_chain(jobs=1)
    assert parallel == single
    assert (parallel.first_bad_seq, parallel.problem or None) == (seq, problem)
