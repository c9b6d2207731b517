"""The settings the tests run with: the project's own, with each pytest-xdist worker on a Redis
database of its own.

The workers share one Redis server. On one database a live Celery worker started by one pytest
process would take the tasks another process enqueued (for rows in the other's test database),
a purge would drop them, and a rate limit counted for user 1 in one test database would count
for user 1 in the other. PostgreSQL needs nothing here: pytest-django gives each worker its own
test database. The URL is rewritten in the environment too, so that the processes a test
starts (Celery workers, gunicorn) inherit it; they inherit this module as their settings as well,
and the marker keeps them from moving the URL a second time.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", … under pytest -n
_redis = os.environ.get("REDIS_URL", "").strip()
_MARK = "TRANSFERDESK_REDIS_PER_WORKER"
if _worker.startswith("gw") and _redis and _MARK not in os.environ:
    _parts = urlsplit(_redis)
    _base = int(_parts.path.strip("/") or 0)
    # Redis has 16 databases: worker N takes base + N, wrapping round.
    _db = (_base + int(_worker[2:])) % 16
    os.environ["REDIS_URL"] = urlunsplit(_parts._replace(path=f"/{_db}"))
    os.environ[_MARK] = "1"

from transferdesk.settings import *  # noqa: E402, F403
