"""The browser fixtures of tests/e2e (one Chromium, a watched page, the demo users)."""

from tests.e2e.conftest import (  # noqa: F401 - fixtures for this folder
    browser,
    compiled_catalogues,
    console,
    demo_users,
    page,
)
