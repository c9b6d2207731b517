"""Shared fixtures: the cast of actors, service markers, a live Celery worker, a browser.

Tests marked ``postgres``, ``redis`` or ``live_worker`` skip when their service is not
configured, except under ``TRANSFERDESK_REQUIRE_SERVICES=1`` (set by ``.ci/run``), where a
missing service fails the test instead: CI must never pass by skipping them.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings

from tests.factories import Cast, make_cast
from tests.support import flush, mfa
from tests.support.worker import LiveWorker

REQUIRE_SERVICES = os.environ.get("TRANSFERDESK_REQUIRE_SERVICES") == "1"
SERVICE_MARKERS = {"postgres", "live_worker", "redis"}


def _missing_service(item: pytest.Item) -> str | None:
    needs_postgres = item.get_closest_marker("postgres") or item.get_closest_marker("live_worker")
    if needs_postgres and not settings.IS_POSTGRES:
        return "needs PostgreSQL: set DATABASE_URL"
    needs_redis = item.get_closest_marker("live_worker") or item.get_closest_marker("redis")
    if needs_redis and not settings.REDIS_URL:
        return "needs Redis: set REDIS_URL"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = _missing_service(item)
    if reason:
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} (TRANSFERDESK_REQUIRE_SERVICES=1 forbids skipping)")
        pytest.skip(reason)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = [
        rep
        for rep in terminalreporter.stats.get("skipped", [])
        if SERVICE_MARKERS & set(getattr(rep, "keywords", {}))
    ]
    if skipped and REQUIRE_SERVICES:
        terminalreporter.write_line(
            f"{len(skipped)} PostgreSQL/live-worker test(s) were skipped; CI requires them.",
            red=True,
        )
        terminalreporter._session.exitstatus = 1


@pytest.fixture(scope="session", autouse=True)
def _fast_flush() -> None:
    """Transactional tests empty PostgreSQL with DELETE, not TRUNCATE (tests/support/flush.py):
    the same empty tables, two seconds sooner after each browser and live-worker test."""
    flush.install()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    """Argon2 is deliberately slow; tests that are not about hashing use a fast hasher.
    Argon2 stays configured second, so its hashes still verify."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]


@pytest.fixture(autouse=True)
def _force_login_passes_second_factor(monkeypatch, settings) -> None:
    """``client.force_login`` leaves a session that passed a second factor (tests/support/mfa).

    A TOTP code computed by a test as its 30 s step ends reaches the server in the next step
    now and then: the tests accept one step either side (production accepts only the current
    step, so that a code can never be replayed once allauth forgets it was used)."""
    mfa.install_force_login_with_factor(monkeypatch)
    settings.MFA_TOTP_TOLERANCE = 1


@pytest.fixture
def eager_tasks() -> None:
    """Run Celery tasks in-process for one test. The Celery app reads its configuration once,
    so overriding the Django setting alone would still send tasks to Redis under CI."""
    from transferdesk.celery import app

    # Removed afterwards rather than set back to the value read: a value written to app.conf
    # would shadow, for the rest of the session, the Django setting later tests change.
    changes = app.conf.changes
    had, before = "task_always_eager" in changes, changes.get("task_always_eager")
    app.conf.task_always_eager = True
    yield
    if had:
        changes["task_always_eager"] = before
    else:
        changes.pop("task_always_eager", None)


@pytest.fixture
def cast(db: None) -> Cast:
    """The named actors of every permission test (see tests/factories.py)."""
    return make_cast()


@pytest.fixture
def live_worker(transactional_db: None) -> LiveWorker:
    """A real ``celery worker`` process against Redis and the test database."""
    worker = LiveWorker()
    worker.start()
    yield worker
    worker.stop()
