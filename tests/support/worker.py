"""Starts and stops real Celery worker processes for tests that need one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings

from transferdesk.celery import app

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The URL of the database the tests use (pytest-django's test database)."""
    db = settings.DATABASES["default"]
    if not settings.IS_POSTGRES:
        raise RuntimeError("A live worker shares the test database: it needs PostgreSQL.")
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class LiveWorker:
    """One ``celery worker`` process consuming every queue, for the duration of a test."""

    def __init__(
        self,
        queues: str = "handover,reports,maintenance",
        concurrency: int = 1,
        redis_url: str | None = None,
    ):
        self.redis_url = redis_url or settings.REDIS_URL
        self.queues = queues
        self.concurrency = concurrency
        self.name = f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = ROOT / "var" / "test-logs" / f"{self.name.split('@')[0]}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_bytes(b"")

    def purge(self) -> None:
        """Drop every message waiting in the broker (another test's leftovers)."""
        with app.connection_for_write(self.redis_url) as conn:
            app.control.purge(connection=conn)

    def start(self, *, purge: bool = True, timeout: float = 60) -> None:
        if purge:
            self.purge()
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": self.redis_url,
            "DATABASE_CONN_MAX_AGE": "0",
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "transferdesk", "worker",
                "-Q", self.queues, "-c", str(self.concurrency), "-n", self.name,
                "--without-gossip", "--without-mingle", "-l", "INFO",
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() can take all at once
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Celery worker exited early; see {self.log_path}")
            # The worker's own "ready" log line: pinging from the test process through a
            # second broker connection can block inside kombu's shared poller.
            if f"{self.name} ready." in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Celery worker did not answer within {timeout}s; see {self.log_path}")

    def answers_ping(self, timeout: float = 0.5) -> bool:
        with app.connection_for_write(self.redis_url) as conn:
            return bool(app.control.ping(destination=[self.name], timeout=timeout, connection=conn))

    def kill(self) -> None:
        """SIGKILL the whole worker at once (main process and pool children), as a crash of
        the machine would: killing the children first would let the main process requeue
        their messages, which is a gentler failure than the one being tested."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None
