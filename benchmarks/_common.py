"""What every benchmark shares: a scratch PostgreSQL database next to the one in DATABASE_URL,
a plain psycopg2 connection to it (for the floors), and Django set up against it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def connect(url: str, dbname: str | None = None) -> Any:
    """A psycopg2 connection to the database of ``url`` (or to ``dbname`` on that server)."""
    import psycopg2

    parts = urlsplit(url)
    return psycopg2.connect(
        dbname=dbname or parts.path.lstrip("/"),
        user=parts.username,
        password=parts.password,
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
    )


@contextlib.contextmanager
def scratch_database(base_url: str, prefix: str) -> Iterator[str]:
    """A fresh database on the same server, dropped on the way out whatever happens."""
    if not base_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL server (a scratch database is made).")
    name = f"{prefix}_{os.getpid()}"
    admin = connect(base_url, "postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(base_url)._replace(path=f"/{name}"))
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def django_setup(url: str, **environ: str) -> None:
    """Django against ``url`` (no persistent connections), with any extra settings given."""
    os.environ.update(environ, DATABASE_URL=url, DATABASE_CONN_MAX_AGE="0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "transferdesk.settings")
    import django

    django.setup()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live local process, from /proc (None if it is gone, or
    unseen: a PostgreSQL server on another machine)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_phase(script: str, url: str, phase: str, *args: str) -> dict[str, Any]:
    """Run one phase of ``script`` in a fresh interpreter (so its peak memory and CPU are its
    own) and return the JSON object its last line prints."""
    result = subprocess.run(
        [sys.executable, script, "--url", url, "--phase", phase, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode:
        sys.stderr.write(result.stderr[-4000:])
        raise SystemExit(f"the {phase} phase failed")
    return json.loads(result.stdout.strip().splitlines()[-1])
