"""The docker-compose topology, proven with real processes: gunicorn serving the app, a Celery
worker and Celery beat on a real Redis, and /readyz telling a load balancer the truth."""

from __future__ import annotations

import json
import time

import pytest
import redis

from tests.support.processes import get, service_env, start_beat, start_gunicorn, start_worker
from tests.support.redis_server import RedisServer


@pytest.mark.live_worker
def test_web_worker_and_beat_work_together_and_readyz_names_what_fails(transactional_db, tmp_path):
    broker = RedisServer()
    broker.start()
    # The load balancer's address gets the named checks, probed afresh on every call here.
    env = service_env(
        broker.url,
        HEARTBEAT_INTERVAL="1",
        READYZ_ALLOWED_ADDRESSES="127.0.0.1",
        READYZ_CACHE_SECONDS="0",
    )
    processes = []
    try:
        web, base = start_gunicorn(env, tmp_path)
        processes.append(web)
        worker = start_worker(env, tmp_path)
        processes.append(worker)
        processes.append(start_beat(env, tmp_path))

        status, body = get(f"{base}/readyz")
        assert status == 200, body
        assert json.loads(body)["checks"]["workers"] == "1 answering"

        status, body = get(f"{base}/accounts/login/")
        assert status == 200
        assert b"Sign in" in body
        status, css = get(f"{base}/static/css/app.css")
        assert status == 200
        assert b"--td-accent" in css

        # Beat schedules the heartbeat, the broker carries it, the worker runs it.
        cache = redis.Redis.from_url(broker.url)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not cache.get("td:1:transferdesk:heartbeat"):
            time.sleep(0.3)
        assert cache.get("td:1:transferdesk:heartbeat"), worker.log()[-2000:]

        worker.stop()
        status, body = get(f"{base}/readyz")
        assert status == 503
        assert json.loads(body)["failing"] == ["workers"]

        broker.stop()
        status, body = get(f"{base}/readyz")
        assert status == 503
        report = json.loads(body)
        assert "broker" in report["failing"]
        assert report["checks"]["broker"].startswith("unreachable")
        assert report["checks"]["database"] == "ok"
    finally:
        for process in reversed(processes):
            process.stop()
        broker.stop()
