"""/healthz and /readyz answer the way a load balancer expects, and /readyz's expensive worker
ping is something only the load balancer can trigger, at most once per cache window."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import cache

TOKEN = "lb-secret-0123456789"
LB = {"HTTP_X_READYZ_TOKEN": TOKEN}


@pytest.fixture(autouse=True)
def _readyz(settings):
    settings.READYZ_TOKEN = TOKEN
    settings.READYZ_ALLOWED_ADDRESSES = []
    cache.clear()
    yield
    with contextlib.suppress(redis.exceptions.ConnectionError):  # a test's dead cache
        cache.clear()


def test_healthz_answers_while_the_process_serves(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_without_a_broker_checks_the_database_only(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    response = client.get("/readyz", **LB)
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["broker"] == "not configured (tasks run in-process)"


@pytest.mark.django_db
def test_the_named_checks_need_the_token_or_an_allowed_address(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    assert client.get("/readyz").json() == {"status": "ok"}
    assert client.get("/readyz", HTTP_X_READYZ_TOKEN="guess").json() == {"status": "ok"}
    settings.READYZ_TOKEN = ""
    assert client.get("/readyz", HTTP_X_READYZ_TOKEN="").json() == {"status": "ok"}

    settings.READYZ_ALLOWED_ADDRESSES = ["192.0.2.0/28"]
    assert "checks" in client.get("/readyz", REMOTE_ADDR="192.0.2.3").json()
    # A client claiming the balancer's address through the proxy is still that client...
    spoof = client.get("/readyz", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="192.0.2.3, 1.2.3.4")
    assert "checks" not in spoof.json()
    # ...and an outsider's own X-Forwarded-For is not read at all.
    outsider = client.get("/readyz", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="192.0.2.3")
    assert "checks" not in outsider.json()


@pytest.mark.live_worker
def test_readyz_is_ready_with_a_live_worker(client, live_worker, settings):
    response = client.get("/readyz", **LB)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["broker"] == "ok"
    assert body["checks"]["workers"].endswith("answering")


@pytest.mark.redis
@pytest.mark.django_db
def test_readyz_is_unavailable_when_no_worker_answers(client):
    response = client.get("/readyz", **LB)
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["broker"] == "ok"
    assert body["failing"] == ["workers"]
    assert body["checks"]["workers"] == "no worker answered a ping"


def _pings_sent(subscriber) -> int:
    """Worker pings broadcast on the broker's control channel since the last call."""
    count = 0
    while (message := subscriber.get_message(timeout=0.5)) is not None:
        if message["type"] != "pmessage":
            continue
        body = json.loads(base64.b64decode(json.loads(message["data"])["body"]))
        count += body["method"] == "ping"
    return count


@pytest.mark.redis
@pytest.mark.django_db
def test_many_calls_to_readyz_send_at_most_one_worker_ping_per_cache_window(client, settings):
    """Counts the real broadcasts on the broker: anonymous callers never make a worker ping,
    and the load balancer's calls within one window share a single ping."""
    settings.READYZ_CACHE_SECONDS = 300
    subscriber = redis.Redis.from_url(django_settings.REDIS_URL).pubsub()
    subscriber.psubscribe("*.celery.pidbox")
    assert subscriber.get_message(timeout=2)["type"] == "psubscribe"

    anonymous = [client.get("/readyz") for _ in range(20)]
    assert {r.json()["status"] for r in anonymous} == {"ok"}  # nothing cached: database only
    assert all("checks" not in r.json() for r in anonymous)
    assert _pings_sent(subscriber) == 0

    balancer = [client.get("/readyz", **LB) for _ in range(10)]
    assert _pings_sent(subscriber) == 1
    assert {r.json()["checks"]["workers"] for r in balancer} == {"no worker answered a ping"}

    # Anonymous callers now see the cached verdict, still without the named checks.
    after = client.get("/readyz")
    assert after.status_code == 503 and after.json() == {"status": "fail"}
    assert _pings_sent(subscriber) == 0

    cache.delete("readyz:probe")  # the window ends
    client.get("/readyz", **LB)
    assert _pings_sent(subscriber) == 1
    subscriber.close()


@pytest.mark.django_db
def test_readyz_reports_rather_than_crashes_when_the_cache_server_is_down(client, settings, cast):
    """The cache is Redis, like the broker: with both gone, /readyz names the broker, and
    sign-in (whose per-address counter lives in the cache) still works."""
    dead = "redis://127.0.0.1:1/0"  # nothing listens: connections are refused at once
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": dead}
    }
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = dead
    response = client.get("/readyz", **LB)
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("unreachable")
    assert client.get("/readyz").json() == {"status": "ok"}  # the database answers

    from tests.factories import PASSWORD

    response = client.post("/accounts/login/", {"login": "broker", "password": PASSWORD})
    assert response.status_code == 302
