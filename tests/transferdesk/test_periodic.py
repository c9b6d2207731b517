"""Periodic jobs run by themselves in the embedded default too, every run is stored (successes
included), and compliance officers and administrators see them on one page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse

from transferdesk.celery import app
from transferdesk.periodic import PeriodicRun, RunOutcome, every_text

pytestmark = pytest.mark.django_db


@app.task(name="tests.periodic.failing")
def failing_task() -> None:
    raise ValueError("the disk is full")


SHORT = {
    "audits-verify-chain": {
        "task": "audits.tasks.verify_audit_chain",
        "schedule": timedelta(seconds=1),
    },
    "audits-purge-expired": {
        "task": "audits.tasks_lifecycle.purge_expired",
        "schedule": timedelta(seconds=1),
    },
    "tests-failing": {"task": "tests.periodic.failing", "schedule": timedelta(seconds=1)},
}


@pytest.fixture
def short_schedule(settings, eager_tasks):
    settings.CELERY_BEAT_SCHEDULE = SHORT
    settings.CELERY_TASK_ALWAYS_EAGER = True


def test_the_scheduler_runs_verification_and_purge_by_themselves_and_the_page_shows_it(
    short_schedule, client, cast
):
    call_command("scheduler", for_seconds=3.5, tick=0.2)
    for task in ("audits.tasks.verify_audit_chain", "audits.tasks_lifecycle.purge_expired"):
        runs = PeriodicRun.objects.filter(task=task)
        assert runs.count() >= 2, task  # every second, from one second after the start
        assert set(runs.values_list("outcome", flat=True)) == {RunOutcome.SUCCEEDED}
    failed = PeriodicRun.objects.filter(task="tests.periodic.failing").first()
    assert failed.outcome == RunOutcome.FAILED
    assert failed.message == "ValueError: the disk is full"

    client.force_login(cast.compliance)
    page = client.get(reverse("periodic_jobs")).content.decode()
    assert "Verify the audit chain" in page and "Purge customers past their retention" in page
    assert "Succeeded" in page and "ValueError: the disk is full" in page
    assert "every second" in page


def test_a_restarted_scheduler_waits_for_each_jobs_next_turn(short_schedule, settings):
    settings.CELERY_BEAT_SCHEDULE = {
        "audits-verify-chain": {
            "task": "audits.tasks.verify_audit_chain",
            "schedule": timedelta(hours=1),
        }
    }
    PeriodicRun.objects.create(task="audits.tasks.verify_audit_chain", outcome="succeeded")
    call_command("scheduler", for_seconds=1, tick=0.2)
    assert PeriodicRun.objects.count() == 1


def test_with_a_broker_the_scheduler_defers_to_celery_beat(settings):
    from django.core.management.base import CommandError

    settings.CELERY_TASK_ALWAYS_EAGER = False
    with pytest.raises(CommandError, match="celery beat"):
        call_command("scheduler", for_seconds=1)


def test_administrators_see_the_page_and_others_do_not(client, cast):
    client.force_login(cast.admin)
    assert client.get(reverse("periodic_jobs")).status_code == 200
    for user in (cast.broker, cast.buyer):
        client.force_login(user)
        assert client.get(reverse("periodic_jobs")).status_code == 403


def test_intervals_read_as_words():
    assert every_text(timedelta(days=1)) == "every day"
    assert every_text(timedelta(days=7)) == "every 7 days"
    assert every_text(timedelta(minutes=15)) == "every 15 minutes"
    assert every_text(timedelta(seconds=90)) == "every 90 seconds"
