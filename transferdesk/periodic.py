"""Periodic jobs: what runs on a schedule, when each last ran and how it ended.

The schedule is ``CELERY_BEAT_SCHEDULE``. With a broker, ``celery beat`` sends it; in the
embedded default (no broker) ``manage.py scheduler``, which ``make run`` starts next to the web
server, runs the same tasks in its own process on the same schedule. A process rather than a
thread in the web server: the development server's auto-reloader runs the project twice and
restarts it on every change, and a deployment runs one beat, not one per web worker.

Every run of a scheduled task, however it was started, is a ``PeriodicRun`` row written by the
task signals below (successes included), which the periodic-jobs page lists.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from celery.signals import task_failure, task_postrun, task_prerun
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

#: The schedule's entries in words (an entry missing here is shown by its name).
LABELS = {
    "transferdesk-heartbeat": _("Heartbeat (a worker and the scheduler are alive)"),
    "audits-verify-chain": _("Verify the audit chain"),
    "transfers-sweep-stalled-stages": _("Restart handover stages whose worker vanished"),
    "transfers-requests-remind": _("Remind assignees of data-subject requests near their deadline"),
    "transfers-followups-remind": _("Tell buyers of follow-up tasks near their deadline"),
    "transfers-sweep-notice-campaigns": _("Resume notice campaigns whose message was lost"),
    "audits-access-review-expire": _("Expire access-review grants nobody kept"),
    "audits-access-review-remind": _("Remind access reviewers"),
    "audits-incident-clock": _(
        "Tell officers when an incident's deadline is half and 90 per cent gone"
    ),
    "audits-backup": _("Nightly encrypted backup"),
    "audits-purge-expired": _("Purge customers past their retention"),
    "audits-restore-drill": _("Weekly restore drill"),
    "notifications-digest": _("Daily digest of notifications by e-mail"),
    "api-webhooks-sweep": _("Send webhook deliveries that are due again"),
}


class RunOutcome(models.TextChoices):
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class PeriodicRun(models.Model):
    """One run of a scheduled task: when, how long, how it ended (a failure says why, by the
    exception's type and message; tasks take and report ids only, never personal data)."""

    task = models.CharField(_("task"), max_length=200, db_index=True)
    task_id = models.CharField(_("task id"), max_length=64, blank=True)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=RunOutcome.choices, default=RunOutcome.RUNNING
    )
    message = models.CharField(_("message"), max_length=300, blank=True)

    class Meta:
        app_label = "transferdesk"
        ordering = ["-started_at"]
        verbose_name = _("periodic run")
        verbose_name_plural = _("periodic runs")
        indexes = [models.Index(fields=["task", "-started_at"], name="periodic_task_started")]

    def __str__(self) -> str:
        return f"{self.task} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def label(self) -> str:
        """The job in words: the schedule entry's label, or the task's name."""
        for name, entry in schedule().items():
            if entry["task"] == self.task:
                return str(LABELS.get(name, name))
        return self.task


def schedule() -> dict[str, dict[str, Any]]:
    return dict(getattr(settings, "CELERY_BEAT_SCHEDULE", {}))


def interval(entry: dict[str, Any]) -> timedelta:
    every = entry["schedule"]
    if isinstance(every, timedelta):
        return every
    if isinstance(every, int | float):
        return timedelta(seconds=every)
    return timedelta(seconds=every.run_every.total_seconds())  # a celery schedule object


def scheduled_tasks() -> set[str]:
    return {str(entry["task"]) for entry in schedule().values()}


def overview(now: datetime | None = None) -> list[dict[str, Any]]:
    """Each schedule entry with its last run (any outcome), its last success and its next
    run (the last start plus the interval; unknown before a first run)."""
    now = now or timezone.now()
    rows = []
    for name, entry in schedule().items():
        task = str(entry["task"])
        every = interval(entry)
        runs = PeriodicRun.objects.filter(task=task)
        last = runs.first()
        rows.append(
            {
                "name": name,
                "label": LABELS.get(name, name),
                "task": task,
                "every": every,
                "last": last,
                "last_success": runs.filter(outcome=RunOutcome.SUCCEEDED).first(),
                "next": (last.started_at + every) if last else None,
                "overdue": bool(last and last.started_at + every * 2 < now),
            }
        )
    return rows


# --- recording, whichever process runs the task ---------------------------------------------


def _recorded(sender: Any) -> bool:
    return getattr(sender, "name", None) in scheduled_tasks()


@task_prerun.connect
def _started(sender: Any = None, task_id: str | None = None, **_kw: Any) -> None:
    if _recorded(sender):
        PeriodicRun.objects.create(task=sender.name, task_id=task_id or "")


@task_failure.connect
def _failed(
    sender: Any = None, task_id: str | None = None, exception: Any = None, **_kw: Any
) -> None:
    if _recorded(sender):
        message = _message(exception)
        PeriodicRun.objects.filter(task=sender.name, task_id=task_id or "").update(
            outcome=RunOutcome.FAILED, finished_at=timezone.now(), message=message
        )


@task_postrun.connect
def _finished(
    sender: Any = None, task_id: str | None = None, state: str = "", retval: Any = None, **_kw: Any
) -> None:
    # Eager runs (the embedded default) send no task_failure: the outcome is read here.
    if _recorded(sender):
        fields: dict[str, Any] = {
            "outcome": RunOutcome.SUCCEEDED if state == "SUCCESS" else RunOutcome.FAILED,
            "finished_at": timezone.now(),
        }
        error = getattr(retval, "exception", retval)  # eager runs pass an ExceptionInfo
        if state != "SUCCESS" and isinstance(error, BaseException):
            fields["message"] = _message(error)
        PeriodicRun.objects.filter(
            task=sender.name, task_id=task_id or "", outcome=RunOutcome.RUNNING
        ).update(**fields)


def _message(exception: BaseException) -> str:
    return f"{type(exception).__name__}: {exception}"[:300]


def every_text(every: timedelta) -> str:
    """An interval in words: "every 5 minutes", "every day"."""
    from django.utils.translation import ngettext

    seconds = int(every.total_seconds())
    for size, one, many in (
        (86400, "every day", "every %(n)d days"),
        (3600, "every hour", "every %(n)d hours"),
        (60, "every minute", "every %(n)d minutes"),
        (1, "every second", "every %(n)d seconds"),
    ):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return ngettext(one, many, n) % {"n": n}
    return ngettext("every second", "every %(n)d seconds", seconds) % {"n": seconds}
