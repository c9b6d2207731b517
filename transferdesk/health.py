"""Liveness and readiness probes for load balancers and orchestrators.

``/healthz`` answers as long as the process serves requests. ``/readyz`` answers 200 only when
the parts a request may need are there: the database, and, when a broker is configured, the
broker and at least one worker answering a ping. Otherwise 503 with the failing part named.

The worker ping waits up to two seconds for replies, so it must not be something anyone on the
internet can make a web worker do in a loop. The broker-and-worker probe therefore runs only for
the load balancer (a client address in ``READYZ_ALLOWED_ADDRESSES``, or the ``READYZ_TOKEN`` in
the ``X-Readyz-Token`` header), at most once per ``READYZ_CACHE_SECONDS`` across all web
processes (its result is kept in the shared cache), and only that caller sees the named checks.
Anyone else gets the cheap answer: the database check plus the last probe's verdict if one is
cached, as a bare status.
"""

from __future__ import annotations

import hmac
import ipaddress
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

from .celery import app as celery_app
from .clientip import client_ip

PROBE_TIMEOUT = 2.0
TOKEN_HEADER = "X-Readyz-Token"  # noqa: S105 - a header name, not a secret
#: The last probe's result, for ``READYZ_CACHE_SECONDS``.
PROBE_KEY = "readyz:probe"
#: The result kept longer, answered while another process is probing.
LAST_PROBE_KEY = "readyz:probe:last"
#: Held while one process probes, so concurrent callers do not ping too.
PROBING_KEY = "readyz:probing"


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


def _probe_services() -> dict[str, Any]:
    """Broker and workers: the expensive part (up to ``PROBE_TIMEOUT`` for ping replies)."""
    checks: dict[str, str] = {}
    failed: list[str] = []
    error = _check_broker(settings.CELERY_BROKER_URL)
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
    return {"checks": checks, "failing": failed}


def _cache_call(method: str, *args: Any, **kwargs: Any) -> Any:
    """A cache operation that treats an unreachable cache (Redis down) as a miss: readiness
    must be reported, not crash, when the cache's own server is the part that failed."""
    try:
        return getattr(cache, method)(*args, **kwargs)
    except Exception:  # noqa: BLE001 - any cache failure: answer without it
        return None


def _cached_probe(*, run: bool) -> dict[str, Any] | None:
    """The probe's result from the shared cache; when ``run`` and none is fresh, probe once
    (one caller at a time across processes) and cache it for ``READYZ_CACHE_SECONDS``
    (0: no caching, every allowed call probes)."""
    window = settings.READYZ_CACHE_SECONDS
    result = _cache_call("get", PROBE_KEY) if window > 0 else None
    if result is not None or not run:
        return result
    if window <= 0:
        return _probe_services()
    locked = _cache_call("add", PROBING_KEY, 1, timeout=int(PROBE_TIMEOUT * 2) + 5)
    if locked is False:
        # Someone else is probing right now: their previous answer, or "being checked".
        return _cache_call("get", LAST_PROBE_KEY) or {
            "checks": {"broker": "being checked", "workers": "being checked"},
            "failing": ["workers"],
        }
    try:
        result = _probe_services()
        _cache_call("set", PROBE_KEY, result, timeout=window)
        _cache_call("set", LAST_PROBE_KEY, result, timeout=window * 10)
    finally:
        _cache_call("delete", PROBING_KEY)
    return result


def _may_probe(request: HttpRequest) -> bool:
    """The load balancer: a client address it names, or the token it sends."""
    token = settings.READYZ_TOKEN
    sent = request.headers.get(TOKEN_HEADER, "")
    if token and sent and hmac.compare_digest(sent.encode(), token.encode()):
        return True
    address = client_ip(request)
    if address is None or not settings.READYZ_ALLOWED_ADDRESSES:
        return False
    ip = ipaddress.ip_address(address)
    return any(
        ip in ipaddress.ip_network(entry, strict=False)
        for entry in settings.READYZ_ALLOWED_ADDRESSES
    )


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    detailed = _may_probe(request)
    checks: dict[str, str] = {}
    failed: list[str] = []

    error = _check_database()
    checks["database"] = error or "ok"
    if error:
        failed.append("database")

    if settings.CELERY_TASK_ALWAYS_EAGER:
        checks["broker"] = "not configured (tasks run in-process)"
        checks["workers"] = "in-process"
    else:
        probe = _cached_probe(run=detailed)
        if probe is not None:
            checks.update(probe["checks"])
            failed.extend(probe["failing"])
        else:
            checks["broker"] = checks["workers"] = "not checked"

    status = 503 if failed else 200
    body: dict[str, Any] = {"status": "fail" if failed else "ok"}
    if detailed:
        body.update(checks=checks, failing=failed)
    return JsonResponse(body, status=status)
