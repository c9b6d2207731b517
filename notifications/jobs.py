"""Telling the person who started a job (an import, a report, a verification…) that it
finished or failed: a receiver of ``transferdesk.jobs.job_finished``, which is sent inside the
transaction that records the outcome.

The page where a job's outcome is shown belongs to the app that started it, so each app
registers how to link its jobs (``register_job_link``, from its ``AppConfig.ready``); a job
without a registered link points to the notification list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.urls import reverse

from .choices import Kind
from .services import notify

#: Job kind (or a prefix of it, such as "report_") → the path of the job's page, or None.
JOB_LINKS: dict[str, Callable[[Any], str | None]] = {}


def register_job_link(kind_prefix: str, link: Callable[[Any], str | None]) -> None:
    JOB_LINKS[kind_prefix] = link


def job_link(job: Any) -> str:
    for prefix, link in JOB_LINKS.items():
        if job.kind.startswith(prefix):
            url = link(job)
            if url:
                return url
    return reverse("notifications:list")


def on_job_finished(sender: Any, *, job_id: Any, succeeded: bool, **kwargs: Any) -> None:
    from transferdesk.jobs import Job

    job = Job.objects.select_related("started_by").get(pk=job_id)
    if job.started_by is None:
        return
    notify(
        recipients=[job.started_by],
        kind=Kind.JOB_FINISHED if succeeded else Kind.JOB_FAILED,
        url=job_link(job),
        params={"job": job.kind},
    )
