"""Liveness and readiness probes for load balancers and orchestrators.

``/healthz`` answers as long as the process serves requests. ``/readyz`` answers 200 only when
the parts a request may need are there: the database, and, when a broker is configured, the
broker and at least one worker answering a ping. Otherwise 503 with the failing part named.
"""

from __future__ import annotations

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
    try:
        with Connection(url, connect_timeout=PROBE_TIMEOUT) as conn:
            conn.ensure_connection(max_retries=1, timeout=PROBE_TIMEOUT)
    except Exception as exc:  # noqa: BLE001
        return f"unreachable: {type(exc).__name__}"
    return None


def _check_workers(url: str) -> tuple[str | None, int]:
    try:
        with celery_app.connection_for_write(url) as conn:
            replies = celery_app.control.ping(timeout=PROBE_TIMEOUT, connection=conn)
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
            error, count = _check_workers(broker_url)
            checks["workers"] = error or f"{count} answering"
            if error:
                failed.append("workers")

    status = 503 if failed else 200
    body = {"status": "fail" if failed else "ok", "checks": checks, "failing": failed}
    return JsonResponse(body, status=status)
