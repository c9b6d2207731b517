"""The Celery app is configured for exactly-once-friendly, personal-data-free messaging."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings

from transferdesk.celery import app
from transferdesk.tasks import heartbeat


def test_tasks_are_acknowledged_late_and_requeued_when_a_worker_dies():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


def test_only_json_is_accepted():
    assert app.conf.task_serializer == "json"
    assert list(app.conf.accept_content) == ["json"]


def test_each_queue_has_its_own_exchange_and_routing_key():
    queues = {q.name: q for q in app.conf.task_queues}
    assert set(queues) == {"handover", "reports", "maintenance"}
    for name, queue in queues.items():
        assert queue.exchange.name == name
        assert queue.routing_key == name


def test_the_visibility_timeout_outlasts_the_longest_task():
    assert app.conf.broker_transport_options["visibility_timeout"] > app.conf.task_time_limit
    assert app.conf.task_soft_time_limit < app.conf.task_time_limit


def test_handover_and_report_tasks_are_routed_to_their_queues():
    route = app.amqp.router.route({}, "transfers.tasks.handover_run_stage")
    assert route["queue"].name == "handover"
    route = app.amqp.router.route({}, "audits.tasks.report_build")
    assert route["queue"].name == "reports"
    route = app.amqp.router.route({}, "transferdesk.tasks.heartbeat")
    assert route["queue"].name == "maintenance"


@pytest.mark.parametrize("argument", ["Jane Doe", "jane@example.com", {"name": "x"}, 3.5, b"\x00"])
def test_a_task_refuses_arguments_that_are_not_ids(argument):
    with pytest.raises(TypeError, match="Task arguments must be ids"):
        heartbeat.apply_async(args=[argument])


@pytest.mark.parametrize(
    "argument", [42, uuid.UUID(int=7), str(uuid.UUID(int=8)), "123", None, [1, 2]]
)
def test_ids_pass_the_argument_check(argument, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # heartbeat takes no arguments: reaching its signature check proves the id check passed.
    with pytest.raises(TypeError, match="positional argument"):
        heartbeat.apply_async(args=[argument])


def test_without_a_broker_tasks_run_in_process_and_errors_propagate():
    if settings.REDIS_URL:
        assert app.conf.task_always_eager is False
    else:
        assert app.conf.task_always_eager is True
    assert app.conf.task_eager_propagates is True


def test_beat_runs_the_heartbeat():
    entries = {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "transferdesk.tasks.heartbeat" in entries
