"""Test data built once for a whole module and shared by its tests, each of which still starts
from it untouched.

Some fixtures (the permission matrix's world, the portal's delivered deals) take a second or
more to build through the services and engine, and dozens of tests ask for them. ``shared_world``
opens a transaction for the module; the data is built inside it, and it is rolled back when the
module ends. Each test, through pytest-django's ``db`` fixture, runs in a savepoint inside that
transaction, so whatever a test writes is undone before the next one, as with a fresh build.

Python objects are shared too: a fixture that hands out model instances should re-read them
for each test (``fresh``), so that an instance a test changed in memory does not leak.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.conf import settings
from django.db import models, transaction
from django.test import override_settings

M = TypeVar("M", bound=models.Model)


@contextmanager
def shared_world(django_db_blocker: Any) -> Iterator[None]:
    """Database access and one open transaction, rolled back at the end. Use it in a
    module-scoped fixture that depends on ``django_db_setup`` and ``django_db_blocker``."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        # Marked as Django's TestCase marks its class-level atomic, so that the services'
        # durable=True blocks may run inside it (they do inside every test's transaction).
        outer._from_testcase = True
        outer.__enter__()
    try:
        with django_db_blocker.unblock():
            yield
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@contextmanager
def tasks_in_process() -> Iterator[None]:
    """Celery tasks run in the calling process for the duration. The override is removed
    afterwards rather than set back to the value read: a value written to ``app.conf`` would
    shadow, for the rest of the session, the Django setting that later tests change."""
    from transferdesk.celery import app

    changes = app.conf.changes
    had, before = "task_always_eager" in changes, changes.get("task_always_eager")
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        if had:
            changes["task_always_eager"] = before
        else:
            changes.pop("task_always_eager", None)


def fast_password_hashing() -> override_settings:
    """As tests/conftest.py's per-test ``_fast_password_hashing``, for module-scoped fixtures
    (which are set up before it): the fast hasher first, the configured ones still verify."""
    return override_settings(
        PASSWORD_HASHERS=[
            "django.contrib.auth.hashers.MD5PasswordHasher",
            *settings.PASSWORD_HASHERS,
        ]
    )


def fresh(instance: M) -> M:
    """The same row, read again from the database."""
    return type(instance)._default_manager.get(pk=instance.pk)
