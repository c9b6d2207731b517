"""Jobs a person waits for (imports, reports, notice runs, purges): one persisted row each.

The row, not the broker, is the truth about a job: its task reports progress into it, pages poll
it (``job_progress`` view, htmx), and a failure leaves a readable reason — never personal data.
Modelled on NetBox's ``core.models.Job``.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)


#: Sent inside the transaction that marks a job succeeded or failed, once per change of its
#: outcome (``job_id``, ``succeeded``): the notification centre tells whoever started it, so
#: the notification exists if and only if the outcome does (notifications/jobs.py).
job_finished = Signal()


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class Job(models.Model):
    """A background job with its progress, outcome and the person who started it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("kind"), max_length=64, db_index=True)
    status = models.CharField(
        _("status"), max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("started by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    done = models.BigIntegerField(_("done"), default=0)
    total = models.BigIntegerField(_("total"), default=0)
    error = models.TextField(_("error"), blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        indexes = [models.Index(fields=["object_type", "object_id"], name="job_object_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"

    @property
    def is_finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    @property
    def percent(self) -> int:
        if self.status == JobStatus.SUCCEEDED:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def rate_per_second(self) -> float | None:
        if not self.started_at or not self.done:
            return None
        end = self.finished_at or timezone.now()
        seconds = (end - self.started_at).total_seconds()
        return self.done / seconds if seconds > 0 else None

    @property
    def seconds_left(self) -> int | None:
        rate = self.rate_per_second
        if self.is_finished or not rate or not self.total:
            return None
        return int((self.total - self.done) / rate)


def job_create(
    *, kind: str, actor: Any = None, total: int = 0, obj: models.Model | None = None
) -> Job:
    """Create the row before the task is enqueued (enqueue it with ``transaction.on_commit``)."""
    return Job.objects.create(
        kind=kind,
        started_by=actor if actor is not None and actor.is_authenticated else None,
        total=total,
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
    )


def job_start(*, job_id: uuid.UUID | str, total: int | None = None) -> None:
    fields: dict[str, Any] = {"status": JobStatus.RUNNING, "started_at": timezone.now()}
    if total is not None:
        fields["total"] = total
    Job.objects.filter(pk=job_id).update(**fields)


def job_progress(*, job_id: uuid.UUID | str, done: int, total: int | None = None) -> None:
    """Record progress; a single UPDATE, cheap enough to call once per chunk."""
    fields: dict[str, Any] = {"done": done}
    if total is not None:
        fields["total"] = total
    Job.objects.filter(pk=job_id).update(**fields)


def _finish(job_id: uuid.UUID | str, status: JobStatus, **fields: Any) -> None:
    with transaction.atomic():
        changed = Job.objects.filter(pk=job_id).exclude(status=status).exists()
        Job.objects.filter(pk=job_id).update(status=status, finished_at=timezone.now(), **fields)
        if changed:
            job_finished.send(sender=Job, job_id=job_id, succeeded=status == JobStatus.SUCCEEDED)


def job_succeed(*, job_id: uuid.UUID | str, result: dict[str, Any] | None = None) -> None:
    _finish(job_id, JobStatus.SUCCEEDED, result=result or {})


def job_fail(*, job_id: uuid.UUID | str, error: str) -> None:
    """Mark failed with a reason a person can act on (never personal data)."""
    _finish(job_id, JobStatus.FAILED, error=error[:2000])


class RunningJob:
    """What the body of ``job_running`` tells its job: progress, and the result or a failure."""

    def __init__(self, job_id: uuid.UUID | str | None) -> None:
        self.job_id = job_id
        #: The job's result once the body ends normally.
        self.result: dict[str, Any] | None = None
        self.failure: str | None = None

    def progress(self, done: int, total: int | None = None) -> None:
        if self.job_id:
            job_progress(job_id=self.job_id, done=done, total=total)

    def fail(self, error: str) -> None:
        """End the job failed with ``error`` when the body ends, though nothing was raised."""
        self.failure = str(error)


@contextmanager
def job_running(
    job_id: uuid.UUID | str | None, *, total: int | None = None, error: Any = None
) -> Iterator[RunningJob]:
    """Run the body as the job ``job_id``, in the manner of NetBox's ``JobRunner``: the job
    starts on entry and succeeds with ``running.result`` when the body ends (or fails, if the
    body called ``running.fail``); if the body raises, the job fails and the exception goes on.

    The failure's reason is ``error`` (a text a person can act on, never personal data, where
    ``{kind}`` stands for the exception's class name), the exception's own text by default.
    With no ``job_id`` (a run that nobody watches) nothing is recorded.
    """
    running = RunningJob(job_id)
    if not job_id:
        yield running
        return
    job_start(job_id=job_id, total=total)
    try:
        yield running
    except Exception as exc:
        reason = str(exc) if error is None else str(error).format(kind=type(exc).__name__)
        job_fail(job_id=job_id, error=reason)
        raise
    if running.failure is not None:
        job_fail(job_id=job_id, error=running.failure)
    else:
        job_succeed(job_id=job_id, result=running.result)


def enqueue(name: str, *ids: Any, fail_job: uuid.UUID | str | None = None) -> bool:
    """Send the task ``name`` (``"app.tasks.function"``) with primary keys as its arguments,
    giving up within ``ENQUEUE_TIMEOUT`` seconds; the one door every enqueue goes
    through.

    A broker that is down, or hung (a stopped Redis accepts the connection and never answers),
    is logged and returns False instead of holding the request: the broker settings bound every
    connect and socket read, and the publish is not retried. The row is the truth: a stage or a
    notice campaign is picked up by its sweeper; a job nothing sweeps (``fail_job``) is marked
    failed with a reason, so the person who started it sees it and can start it again.

    With no broker (the embedded default) the task runs in-process and its errors propagate.
    """
    from .celery import app

    importlib.import_module(name.rsplit(".", 1)[0])  # registers the task in this process
    task = app.tasks[name]
    args = [str(value) if isinstance(value, uuid.UUID) else value for value in ids]
    if app.conf.task_always_eager:
        task.apply_async(args=args)
        return True
    try:
        task.apply_async(args=args, retry=False)
    except Exception:
        logger.warning(
            "could not enqueue %s %s within %ss; left to its sweeper",
            name,
            args,
            settings.ENQUEUE_TIMEOUT,
            exc_info=True,
        )
        if fail_job is not None:
            job_fail(
                job_id=fail_job,
                error=gettext(
                    "The task queue did not answer, so the job was not started and nothing "
                    "was changed. Start it again in a few minutes."
                ),
            )
        return False
    return True
