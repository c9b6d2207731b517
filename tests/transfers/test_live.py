"""The engine against real PostgreSQL, Redis and Celery workers (DESIGN.md guarantee 7)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from django.db import connection, connections

from customers.choices import Tier
from tests.support.redis_server import RedisServer
from tests.support.worker import LiveWorker
from transferdesk.celery import app
from transferdesk.trail import AuditAction, AuditEvent
from transfers import engine, services
from transfers.choices import StageKind, StageStatus
from transfers.models import HandoverStage
from transfers.receipts import manifest_bundle, verify_bundle

from .conftest import bulk_customers, make_deal

pytestmark = pytest.mark.live_worker


def submitted_stage(tcast, n):
    deal = make_deal(tcast)
    bulk_customers(tcast.seller, n)
    stage = services.stage_create(
        actor=tcast.broker, deal=deal, name="Book", kind=StageKind.PSEUDONYMISED,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    return services.stage_submit(actor=tcast.broker, stage=stage)


def wait_for(predicate, timeout=120.0, every=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


def stage_row(stage):
    return HandoverStage.objects.get(pk=stage.pk)


def assert_exactly_once(stage, n):
    stage = stage_row(stage)
    assert stage.status == StageStatus.DELIVERED
    ids = list(stage.items.values_list("customer_id", flat=True))
    assert len(ids) == len(set(ids)) == n
    assert verify_bundle(manifest_bundle(stage), stage=stage).ok


def test_a_worker_killed_mid_stage_leaves_every_customer_exactly_once(tcast, monkeypatch, settings):
    monkeypatch.setenv("HANDOVER_STALE_AFTER", "2")
    monkeypatch.setenv("HANDOVER_CHUNK_SIZE", "100")
    settings.HANDOVER_STALE_AFTER = 2
    stage = submitted_stage(tcast, 3000)
    worker = LiveWorker(queues="handover")
    worker.start()
    try:
        services.stage_approve(actor=tcast.compliance, stage=stage, note="Reviewed.")
        wait_for(lambda: stage_row(stage).done >= 500)
        worker.kill()
        assert stage_row(stage).status == StageStatus.RUNNING
        assert stage_row(stage).done < 3000
        worker = LiveWorker(queues="handover")
        worker.start(purge=False)

        # What beat does every minute: sweep until the stage is delivered.
        def delivered():
            engine.sweep()
            return stage_row(stage).status == StageStatus.DELIVERED

        wait_for(delivered, every=1.0)
    finally:
        worker.stop()
    assert_exactly_once(stage, 3000)
    # Killed inside a partition, the stage is resumed once its heartbeat is stale (an
    # interruption event: test_engine.py shows that path step by step). Killed between two
    # partitions' messages, the new worker takes the ones still queued and nothing was
    # interrupted (CI saw this one). Either way: started once, completed once.
    events = AuditEvent.objects.filter(object_id=str(stage.pk))
    assert events.filter(action=AuditAction.HANDOVER_STARTED).count() == 1
    assert events.filter(action=AuditAction.HANDOVER_INTERRUPTED).count() <= 1
    assert events.filter(action=AuditAction.HANDOVER_COMPLETED).count() == 1


def _point_broker_at(url):
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


def test_approval_succeeds_with_redis_down_and_the_sweeper_runs_the_stage_once(
    tcast, monkeypatch, settings
):
    redis = RedisServer()
    redis.start()
    original_broker = app.conf.broker_url
    _point_broker_at(redis.url)
    stage = submitted_stage(tcast, 200)
    redis.stop()
    try:
        started = time.monotonic()
        services.stage_approve(actor=tcast.compliance, stage=stage, note="Reviewed.")
        assert time.monotonic() - started < 30
        assert stage_row(stage).status == StageStatus.APPROVED
        redis.start()
        _point_broker_at(redis.url)
        worker = LiveWorker(queues="handover", redis_url=redis.url)
        worker.start()
        try:
            from datetime import timedelta

            assert engine.sweep(older_than=timedelta(0)) == 1
            wait_for(lambda: stage_row(stage).status == StageStatus.DELIVERED)
            assert engine.sweep(older_than=timedelta(0)) == 0
            time.sleep(1)
        finally:
            worker.stop()
    finally:
        redis.stop()
        _point_broker_at(original_broker)
    assert_exactly_once(stage, 200)
    assert (
        AuditEvent.objects.filter(
            action=AuditAction.HANDOVER_STARTED, object_id=str(stage.pk)
        ).count()
        == 1
    )


def test_approval_returns_with_redis_hung_by_sigstop_and_the_stage_is_delivered_once(tcast):
    """A stopped Redis accepts the connection and never answers: the approval must still
    return (the enqueue gives up within ENQUEUE_TIMEOUT), and the sweeper delivers the stage
    once Redis runs again. The approval runs in a thread joined with a generous bound, so the
    test fails instead of hanging."""
    from datetime import timedelta

    redis = RedisServer()
    redis.start()
    original_broker = app.conf.broker_url
    _point_broker_at(redis.url)
    stage = submitted_stage(tcast, 200)
    worker = LiveWorker(queues="handover", redis_url=redis.url)
    worker.start()
    with app.producer_or_acquire() as producer:  # a warm pooled connection, as in production
        producer.connection.default_channel.client.ping()
    os.kill(redis.process.pid, signal.SIGSTOP)
    outcome: dict[str, object] = {}

    def approve():
        try:
            outcome["stage"] = services.stage_approve(
                actor=tcast.compliance, stage=stage, note="Reviewed."
            )
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            outcome["error"] = exc
        finally:
            connections.close_all()

    try:
        approval = threading.Thread(target=approve, daemon=True)
        approval.start()
        approval.join(timeout=20)
        assert not approval.is_alive(), "stage_approve is still blocked on the stopped broker"
        assert "error" not in outcome, outcome.get("error")
        assert stage_row(stage).status == StageStatus.APPROVED
        os.kill(redis.process.pid, signal.SIGCONT)

        # What beat does every minute. The timed-out publish may still reach Redis once it
        # runs again: either way the stage is claimed once.
        def delivered():
            engine.sweep(older_than=timedelta(0))
            return stage_row(stage).status == StageStatus.DELIVERED

        wait_for(delivered, every=1.0)
    finally:
        os.kill(redis.process.pid, signal.SIGCONT)
        worker.stop()
        redis.stop()
        _point_broker_at(original_broker)
    assert_exactly_once(stage, 200)
    assert (
        AuditEvent.objects.filter(
            action=AuditAction.HANDOVER_STARTED, object_id=str(stage.pk)
        ).count()
        == 1
    )


@pytest.mark.postgres
def test_two_compliance_officers_approving_at_once_produce_one_approval(
    tcast, monkeypatch, settings
):
    from accounts.choices import Role
    from tests.factories import UserFactory

    second = UserFactory(
        username="compliance2", organization=tcast.broker_firm, roles=[Role.COMPLIANCE]
    )
    stage = submitted_stage(tcast, 10)
    monkeypatch.setattr(services, "enqueue_stage", lambda stage_id: True)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(user):
        try:
            barrier.wait()
            services.stage_approve(actor=user, stage=stage, note=f"Approved by {user}")
            outcomes.append("approved")
        except Exception as exc:  # noqa: BLE001
            outcomes.append(type(exc).__name__)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve, args=(u,)) for u in (tcast.compliance, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["TransitionRefused", "approved"]
    assert (
        AuditEvent.objects.filter(
            action=AuditAction.STAGE_APPROVED, object_id=str(stage.pk)
        ).count()
        == 1
    )
    assert connection.vendor == "postgresql"
