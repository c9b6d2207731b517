"""Job rows: progress a page can poll, and failures that say why."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from transferdesk.jobs import (
    Job,
    JobStatus,
    job_create,
    job_fail,
    job_progress,
    job_running,
    job_start,
    job_succeed,
)


@pytest.fixture
def job(cast):
    return job_create(kind="customer_import", actor=cast.broker, total=200, obj=cast.seller)


def test_a_running_job_reports_progress_rate_and_time_left(job):
    job_start(job_id=job.pk)
    Job.objects.filter(pk=job.pk).update(started_at=timezone.now() - timedelta(seconds=10))
    job_progress(job_id=job.pk, done=50)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.percent == 25
    assert 4.5 < job.rate_per_second < 5.5
    assert 28 <= job.seconds_left <= 31
    assert job.object_type == "customers.Organization"


def test_the_progress_partial_polls_while_running_and_stops_when_done(client, cast, job):
    client.force_login(cast.broker)
    job_start(job_id=job.pk)
    job_progress(job_id=job.pk, done=100)
    page = client.get(reverse("job_progress", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in page
    assert "100 of 200 (50%)" in page
    job_succeed(job_id=job.pk, result={"download_url": "/files/x.pdf"})
    page = client.get(reverse("job_progress", args=[job.pk])).content.decode()
    assert "hx-trigger" not in page
    assert "Finished" in page and 'href="/files/x.pdf"' in page


def test_a_failed_job_says_why_and_that_nothing_changed(client, cast, job):
    client.force_login(cast.broker)
    job_fail(job_id=job.pk, error="Row 12, column phone: not a phone number")
    page = client.get(reverse("job_progress", args=[job.pk])).content.decode()
    assert "The job failed; nothing was changed." in page
    assert "Row 12, column phone: not a phone number" in page


def test_someone_elses_job_is_a_404(client, cast, job):
    client.force_login(cast.other_broker)
    assert client.get(reverse("job_progress", args=[job.pk])).status_code == 404


def test_a_job_of_unknown_size_says_how_many_it_processed_never_of_zero(cast):
    """A job that learns its size only as it goes used to read "33 of 0 (100%)"."""
    from django.template.loader import render_to_string

    job = job_create(kind="customer_import", actor=cast.broker, obj=cast.seller)
    job_start(job_id=job.pk)
    job_progress(job_id=job.pk, done=33)
    job_succeed(job_id=job.pk)
    html = render_to_string("partials/job_progress.html", {"job": Job.objects.get(pk=job.pk)})
    assert "33 processed" in html
    assert "of 0" not in html


def test_the_progress_bar_without_a_total_says_how_many_it_processed():
    from django.template.loader import render_to_string

    html = render_to_string("partials/progress.html", {"done": 9, "total": 0, "label": "x"})
    assert "9 processed" in html and "of 0" not in html


def test_job_running_starts_the_job_and_succeeds_with_its_result(job):
    with job_running(job.pk, total=3) as running:
        job.refresh_from_db()
        assert job.status == JobStatus.RUNNING
        assert job.total == 3
        running.progress(2)
        running.result = {"rows": 3}
    job.refresh_from_db()
    assert (job.status, job.done, job.result, job.error) == (
        JobStatus.SUCCEEDED,
        2,
        {"rows": 3},
        "",
    )


def test_job_running_fails_the_job_with_the_reason_and_lets_the_error_go_on(job):
    with pytest.raises(ZeroDivisionError), job_running(job.pk, error="Stopped ({kind})."):
        1 / 0  # noqa: B018
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.FAILED, "Stopped (ZeroDivisionError).")


def test_job_running_fails_with_the_exception_text_by_default_or_when_told(job, cast):
    with pytest.raises(ValueError, match="bad file"), job_running(job.pk):
        raise ValueError("bad file")
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.FAILED, "bad file")

    other = job_create(kind="customer_import", actor=cast.broker)
    with job_running(other.pk) as running:
        running.fail("3 problems found")
    other.refresh_from_db()
    assert (other.status, other.error) == (JobStatus.FAILED, "3 problems found")
