"""/healthz and /readyz answer the way a load balancer expects."""

from __future__ import annotations

import pytest


def test_healthz_answers_while_the_process_serves(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_without_a_broker_checks_the_database_only(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    response = client.get("/readyz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["broker"] == "not configured (tasks run in-process)"


@pytest.mark.live_worker
def test_readyz_is_ready_with_a_live_worker(client, live_worker, settings):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["broker"] == "ok"
    assert body["checks"]["workers"].endswith("answering")


@pytest.mark.redis
@pytest.mark.django_db
def test_readyz_is_unavailable_when_no_worker_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["broker"] == "ok"
    assert body["failing"] == ["workers"]
    assert body["checks"]["workers"] == "no worker answered a ping"
