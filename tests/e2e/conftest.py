"""Real-browser fixtures: one headless Chromium per session, a fresh context per test.

The browser is Debian's Chromium at ``/usr/bin/chromium`` driven by Playwright's sync API; the
Playwright-managed browser downloads are never used. Without that binary the browser tests skip
with the reason. Each test gets its own browser context (cookies, storage, language), a page
whose console is watched for errors (a Content-Security-Policy violation is a console error)
on pytest-django's ``live_server``, and either the factory cast (behaviour tests) or the demo
users of ``seed_demo`` (screenshots). Helpers for what a person does are in ``browser.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.utils import translation
from django.utils.translation import trans_real
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
from pytest_django.live_server_helper import LiveServer

from accounts.choices import Role
from tests.factories import Cast, make_cast
from tests.support import snapshot

# Playwright's sync API runs an asyncio event loop in the test thread for as long as the
# browser is open (the whole session, as the browser fixture is session-scoped). Django sees
# that running loop and refuses ORM calls from the same thread (SynchronousOnlyOperation), even
# though nothing here is asynchronous: the fixtures and tests still call the ORM synchronously
# and the live server answers in its own thread. Allowing "async-unsafe" calls is safe because
# no coroutine ever touches the database. It is set at import time since the loop outlives any
# single test and later tests in the same process run while it is still there.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 800}


#: The one Playwright driver and Chromium of the process. Other test folders re-export these
#: fixtures from their own conftest, and pytest then instantiates a session fixture once per
#: folder; Playwright's sync API cannot run twice in one thread, so they all share this one.
_SHARED: dict[str, Any] = {}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole session (starting it costs about a second)."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
        )
    if "browser" in _SHARED:
        yield _SHARED["browser"]
        return
    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    _SHARED.update(playwright=playwright, browser=chromium)
    try:
        yield chromium
    finally:
        _SHARED.clear()
        chromium.close()
        playwright.stop()


@pytest.fixture(scope="session")
def compiled_catalogues() -> None:
    """Build the ``.mo`` files (ignored by git) so Chinese pages render translated.

    ``make test`` compiles them too; doing it here keeps ``pytest tests/e2e`` self-sufficient.
    Django caches catalogues per process, so the cache is dropped after compiling.
    """
    call_command("compile_catalogues", stdout=StringIO())
    trans_real._translations = {}
    trans_real._default = None
    translation.activate(settings.LANGUAGE_CODE)


@dataclass
class ConsoleWatch:
    """Console errors and uncaught exceptions of a page, CSP violations included."""

    errors: list[str] = field(default_factory=list)
    #: Messages a test expects: a page answering 403/404/429 (the lock-out page) is logged by
    #: Chromium as a failed resource.
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]

    def take(self) -> list[str]:
        """The errors logged since the last call, for a test that checks page by page."""
        taken, self.errors = self.errors, []
        return taken


@pytest.fixture
def console() -> ConsoleWatch:
    return ConsoleWatch()


@pytest.fixture
def page(
    browser: Browser,
    live_server: LiveServer,
    transactional_db: None,
    compiled_catalogues: None,
    console: ConsoleWatch,
) -> Iterator[Page]:
    """A page in a fresh browser context (English) on the live server.

    The test fails if the page logged any console error it did not expect: a Content-Security-
    Policy violation (an inline style or script), a missing asset or a JavaScript exception.
    """
    context = browser.new_context(
        base_url=live_server.url, viewport=VIEWPORT, locale="en-GB", device_scale_factor=1
    )
    context.set_default_timeout(10_000)
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            source = message.location.get("url") or page.url
            console.errors.append(f"{message.text} (at {source}, page {page.url})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: console.errors.append(f"pageerror: {exc} ({page.url})"))
    yield page
    context.close()
    unexpected = console.unexpected()
    assert not unexpected, "browser console errors:\n" + "\n".join(unexpected)


def _restore_role_groups() -> None:
    """Transactional tests flush the database afterwards, which also removes the role groups
    that a data migration created; they are put back so that users get their roles."""
    for role in Role:
        Group.objects.get_or_create(name=role.value)


@pytest.fixture
def cast(transactional_db: None) -> Cast:
    """The named actors (tests/factories.py), committed so that the live server sees them.

    Password: ``tests.factories.PASSWORD``. Preferred for behaviour tests: fast, and independent
    of how much demo data ``seed_demo`` grows to hold.
    """
    _restore_role_groups()
    return make_cast()


#: The database just after ``seed_demo``, by whether Celery tasks ran in-process while seeding
#: (the portal's tests run them so, and the demo's notices are then sent rather than queued).
_DEMO_SNAPSHOTS: dict[bool, snapshot.Snapshot] = {}


@pytest.fixture
def demo_users(transactional_db: None) -> None:
    """What ``make run`` shows: the demo organisations and users of ``seed_demo`` (broker,
    broker2, compliance, buyer, buyer2, admin; password ``DEMO_PASSWORD``). For screenshots.

    Seeding takes seconds and several screenshot tests want it afresh: on PostgreSQL the first
    one seeds and takes a snapshot of every row, the later ones restore it
    (tests/support/snapshot.py), which is the same data in a fraction of the time.
    """
    from transferdesk.celery import app

    eager = bool(app.conf.task_always_eager)
    if eager in _DEMO_SNAPSHOTS:
        snapshot.restore(_DEMO_SNAPSHOTS[eager])
        return
    _restore_role_groups()
    call_command("seed_demo", stdout=StringIO())
    if snapshot.supported():
        _DEMO_SNAPSHOTS[eager] = snapshot.take()
