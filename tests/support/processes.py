"""The production topology as real processes: gunicorn, celery worker, celery beat."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.redis_server import free_port
from tests.support.worker import ROOT, database_url


def service_env(redis_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "DATABASE_CONN_MAX_AGE": "0",
        "DEBUG": "false",
        **extra,
    }


class Process:
    """A long-running child process with its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log()[-2000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: {text!r} not seen in {timeout}s:\n{self.log()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_gunicorn(env: dict[str, str], log_dir: Path) -> tuple[Process, str]:
    port = free_port()
    proc = Process(
        "gunicorn",
        [sys.executable, "-m", "gunicorn", "transferdesk.wsgi", "-b", f"127.0.0.1:{port}",
         "-w", "2", "--timeout", "30"],
        env,
        log_dir,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2).close()  # noqa: S310
            return proc, base
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            # TimeoutError: a worker still importing the app on a loaded machine.
            if proc.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{proc.log()[-2000:]}") from None
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /healthz")


def start_worker(env: dict[str, str], log_dir: Path) -> Process:
    proc = Process(
        "worker",
        [sys.executable, "-m", "celery", "-A", "transferdesk", "worker", "-Q",
         "handover,reports,maintenance", "-c", "1", "-n", "topology@localhost",
         "--without-gossip", "--without-mingle", "-l", "INFO"],
        env,
        log_dir,
    )  # fmt: skip
    proc.wait_for_log("topology@localhost ready.")
    return proc


def start_beat(env: dict[str, str], log_dir: Path) -> Process:
    return Process(
        "beat",
        [sys.executable, "-m", "celery", "-A", "transferdesk", "beat", "-l", "INFO",
         "-s", str(log_dir / "celerybeat-schedule"), "--pidfile", ""],
        env,
        log_dir,
    )  # fmt: skip


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
