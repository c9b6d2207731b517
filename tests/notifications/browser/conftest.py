"""The real-browser fixtures of ``tests/e2e`` (one Chromium, pages on the live server)."""

from tests.e2e.conftest import *  # noqa: F403
