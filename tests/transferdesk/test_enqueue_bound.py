"""A hung broker cannot hold a request: every enqueue gives up within ENQUEUE_TIMEOUT and leaves
the work to the row (its sweeper, or a failed job with a reason). The broker here is a real
``redis-server`` stopped with SIGSTOP: it accepts connections and never answers."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator

import pytest
from django.urls import reverse

from audits.models import ReportRun
from tests.support.redis_server import RedisServer
from transferdesk.celery import app
from transferdesk.jobs import Job, JobStatus

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="needs redis-server to stop"
)

#: Far above the bound, far below "for ever": the test fails here instead of hanging.
GUARD_SECONDS = 20


class Hung(Exception):
    pass


@pytest.fixture
def hung_broker() -> Iterator[RedisServer]:
    """Celery pointed at a private Redis that is stopped (SIGSTOP) once a producer connection
    to it exists, as when the broker's machine freezes under a running application."""
    redis = RedisServer()
    redis.start()
    saved = (app.conf.broker_url, app.conf.task_always_eager)
    app.conf.broker_url, app.conf.task_always_eager = redis.url, False
    app._pool = None
    app.amqp._producer_pool = None
    with app.producer_or_acquire() as producer:  # a warm pooled connection, as in production
        producer.connection.default_channel.client.ping()
    assert redis.process is not None
    os.kill(redis.process.pid, signal.SIGSTOP)
    try:
        yield redis
    finally:
        os.kill(redis.process.pid, signal.SIGCONT)
        redis.stop()
        app.conf.broker_url, app.conf.task_always_eager = saved
        app._pool = None
        app.amqp._producer_pool = None


@pytest.fixture
def guard() -> Iterator[None]:
    """Interrupt the test with an error if it blocks past GUARD_SECONDS."""

    def interrupt(signum: int, frame: object) -> None:
        raise Hung(f"blocked for over {GUARD_SECONDS} s on a stopped broker")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(GUARD_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def officer(transactional_db: None):
    """A compliance officer, committed; the role groups a transactional test's flush removes
    (they come from a data migration) are put back first."""
    from django.contrib.auth.models import Group

    from accounts.choices import Role
    from tests.factories import make_cast

    for role in Role:
        Group.objects.get_or_create(name=role.value)
    return make_cast().compliance


def test_a_report_requested_on_the_page_with_the_broker_hung_answers_and_says_why(
    client, officer, hung_broker, guard
):
    client.force_login(officer)

    response = client.post(reverse("audits:report_create"), {"kind": "access", "by": "user"})

    assert response.status_code == 302
    run = ReportRun.objects.get()
    job = Job.objects.get(pk=run.job_id)
    assert job.status == JobStatus.FAILED
    assert "task queue did not answer" in job.error
