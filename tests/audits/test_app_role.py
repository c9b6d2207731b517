"""The database roles of the compose stack, on a real PostgreSQL, set up by the stack's own
scripts: the owner migrates, the application connects as a role that owns nothing, and that
role cannot disable the audit trigger, change or delete events, or drop or truncate a table,
while the application itself (events, backup, restore drill) works as it.

The steps are the ones ``docker compose up`` takes: the postgres image creates the owner and
its database and runs ``docker/initdb/10-app-role.sh``; the ``migrate`` service runs
``docker/migrate.sh`` as the owner; web, worker and beat connect as the application's role.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import environ
import psycopg2
import pytest
from psycopg2 import errors

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]


def _server() -> dict[str, Any]:
    """Where the suite's PostgreSQL is, from DATABASE_URL (its role may create roles)."""
    return environ.Env.db_url_config(os.environ["DATABASE_URL"])


def _connect(dbname: str, user: str | None = None) -> Any:
    server = _server()
    conn = psycopg2.connect(
        dbname=dbname,
        host=server["HOST"] or None,
        port=server["PORT"] or None,
        user=user or server["USER"] or None,
        password=None if user else (server["PASSWORD"] or None),
    )
    conn.autocommit = True
    return conn


def _url(user: str, password: str, dbname: str) -> str:
    server = _server()
    return f"postgres://{user}:{password}@{server['HOST']}:{server['PORT'] or 5432}/{dbname}"


def _run(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        argv,
        cwd=ROOT,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def stack() -> Any:
    """A database set up as the compose stack sets it up: (owner, app role, database)."""
    base = _server()["NAME"]
    suffix = uuid.uuid4().hex[:8]
    owner, app, dbname = f"{base}_owner_{suffix}", f"{base}_app_{suffix}", f"{base}_roles_{suffix}"
    admin = _connect("postgres")
    with admin.cursor() as cursor:
        # What the postgres image does with POSTGRES_USER and POSTGRES_DB.
        cursor.execute(f'CREATE ROLE "{owner}" LOGIN PASSWORD %s', ["owner-pw"])
        cursor.execute(f'CREATE DATABASE "{dbname}" OWNER "{owner}"')
    try:
        server = _server()
        _run(
            ["sh", "docker/initdb/10-app-role.sh"],
            {
                "PGHOST": str(server["HOST"]),
                "PGPORT": str(server["PORT"] or 5432),
                "POSTGRES_USER": str(server["USER"]),
                "POSTGRES_DB": dbname,
                "TRANSFERDESK_APP_DB_USER": app,
                "TRANSFERDESK_APP_DB_PASSWORD": "app-pw",
            },
        )
        _run(
            ["sh", "docker/migrate.sh"],
            {
                "DATABASE_URL": _url(owner, "owner-pw", dbname),
                "TRANSFERDESK_APP_DB_USER": app,
            },
        )
        yield owner, app, dbname
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            cursor.execute(f'DROP ROLE IF EXISTS "{app}"')
            cursor.execute(f'DROP ROLE IF EXISTS "{owner}"')
        admin.close()


REFUSED = [
    "UPDATE audits_auditevent SET actor_name = 'someone else'",
    "DELETE FROM audits_auditevent",
    "TRUNCATE audits_auditevent",
    "ALTER TABLE audits_auditevent DISABLE TRIGGER USER",
    "ALTER TABLE audits_auditevent DISABLE TRIGGER audits_auditevent_no_update_delete",
    "DROP TABLE audits_auditevent CASCADE",
    "DROP TRIGGER audits_auditevent_no_update_delete ON audits_auditevent",
    "ALTER TABLE customers_customer DISABLE TRIGGER ALL",
    "TRUNCATE customers_customer CASCADE",
    "DROP TABLE customers_customer CASCADE",
]


def test_the_apps_role_cannot_disable_the_audit_trigger_or_remove_events_but_the_app_works(
    stack, tmp_path
):
    owner, app, dbname = stack
    # The application, connected as its role, does its normal work: it appends events (under
    # the chain's advisory lock), verifies the chain, takes a backup and drills a restore.
    out = _run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.core.management import call_command\n"
            "from transferdesk.trail import AuditAction, record_event\n"
            "for n in range(3):\n"
            "    record_event(action=AuditAction.BACKUP, details={'n': n})\n"
            "call_command('verify_audit_chain')\n"
            "call_command('backup')\n"
            "call_command('restore_drill')\n",
        ],
        {
            "DATABASE_URL": _url(app, "app-pw", dbname),
            "TRANSFERDESK_BACKUP_DIR": str(tmp_path / "backups"),
        },
    )
    assert "verify_audit_chain: OK" in out and "backup: OK" in out
    assert "restore_drill: SUCCEEDED" in out

    conn = _connect(dbname, user=app)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT current_user, count(*) FROM audits_auditevent")
            user, events = cursor.fetchone()
            assert user == app and events >= 3
            cursor.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = %s",
                [app],
            )
            assert cursor.fetchone()[0] == 0  # it owns nothing
            refused = {}
            for statement in REFUSED:
                with pytest.raises(errors.InsufficientPrivilege) as caught:
                    cursor.execute(statement)
                refused[statement] = str(caught.value).splitlines()[0]
            cursor.execute("SELECT count(*) FROM audits_auditevent")
            assert cursor.fetchone()[0] == events  # nothing was removed
    finally:
        conn.close()
    assert all(
        "permission denied" in message or "must be owner" in message for message in refused.values()
    ), refused
    # The owner still can (that is why the app must not be it): the trigger is its to manage.
    owner_conn = _connect(dbname, user=owner)
    try:
        with owner_conn.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("ALTER TABLE audits_auditevent DISABLE TRIGGER USER")
            cursor.execute("ROLLBACK")
    finally:
        owner_conn.close()
