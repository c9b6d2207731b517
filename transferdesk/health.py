"""Liveness and readiness probes for load balancers and orchestrators.

``/healthz`` answers as long as the process serves requests. ``/readyz`` answers 200 only when
the parts a request may need are there: the database, and, when a broker is configured, the
broker and at least one worker answering a ping. Otherwise 503 with the failing part named.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

from .celery import app as celery_app

PROBE_TIMEOUT = 2.0


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported by name
        return f"unreachable: {type(exc).__name__}"
    return None


def _check_broker(url: str) -> str | None:
    # A plain Redis PING: kombu's ensure_connection() on the Redis transport can succeed
    # without talking to the server, and would report a dead broker as healthy.
    try:
        if url.startswith(("redis://", "rediss://")):
            client = redis.Redis.from_url(
                url, socket_connect_timeout=PROBE_TIMEOUT, socket_timeout=PROBE_TIMEOUT
            )
            try:
                client.ping()
            finally:
                client.close()
        else:
            with Connection(url, connect_timeout=PROBE_TIMEOUT) as conn:
                conn.ensure_connection(max_retries=1, timeout=PROBE_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported by name
        return f"unreachable: {type(exc).__name__}"
    return None


# Celery's broadcast publishes with unbounded connection retries; should the broker vanish
# between the two checks, the ping must not hang the probe. One worker thread: a stuck ping
# makes later probes time out too, instead of piling up threads.
_ping_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readyz-ping")


def _check_workers() -> tuple[str | None, int]:
    future = _ping_executor.submit(celery_app.control.ping, timeout=PROBE_TIMEOUT)
    try:
        replies = future.result(timeout=PROBE_TIMEOUT + 3)
    except FutureTimeout:
        return "ping timed out", 0
    except Exception as exc:  # noqa: BLE001
        return f"ping failed: {type(exc).__name__}", 0
    if not replies:
        return "no worker answered a ping", 0
    return None, len(replies)


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    failed: list[str] = []

    error = _check_database()
    checks["database"] = error or "ok"
    if error:
        failed.append("database")

    broker_url = settings.CELERY_BROKER_URL
    if settings.CELERY_TASK_ALWAYS_EAGER:
        checks["broker"] = "not configured (tasks run in-process)"
        checks["workers"] = "in-process"
    else:
        error = _check_broker(broker_url)
        checks["broker"] = error or "ok"
        if error:
            failed.append("broker")
            checks["workers"] = "not checked (broker unreachable)"
            failed.append("workers")
        else:
            error, count = _check_workers()
            checks["workers"] = error or f"{count} answering"
            if error:
                failed.append("workers")

    status = 503 if failed else 200
    body = {"status": "fail" if failed else "ok", "checks": checks, "failing": failed}
    return JsonResponse(body, status=status)
