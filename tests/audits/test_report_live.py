"""A report job on a real worker (PostgreSQL, Redis, Celery on the ``reports`` queue)."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from audits.models import ReportRun
from tests.audits.reporting import access_events, make_customer, make_deal, pdf_text
from transferdesk.jobs import Job, JobStatus
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.live_worker


@pytest.fixture
def report_media(tmp_path, settings, monkeypatch):
    """Report files in a temporary MEDIA_ROOT that the worker process (started after this
    fixture, from the environment) shares with the test."""
    monkeypatch.setenv("MEDIA_ROOT", str(tmp_path))
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def live_cast(transactional_db):
    from django.contrib.auth.models import Group

    from accounts.choices import Role
    from tests.factories import make_cast

    for role in Role:
        Group.objects.get_or_create(name=role.value)
    return make_cast()


def test_a_report_job_completes_on_a_live_worker_and_downloads(
    report_media, live_cast, live_worker, client
):
    deal = make_deal(live_cast)
    access_events(live_cast, deal, make_customer(live_cast), 300)
    client.force_login(live_cast.compliance)

    response = client.post(reverse("audits:report_create"), {"kind": "deal_audit", "deal": "D-1"})
    run = ReportRun.objects.get()
    assert response["Location"] == reverse("audits:report_detail", args=[run.pk])

    deadline = time.monotonic() + 120
    while Job.objects.get(pk=run.job_id).status not in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        assert time.monotonic() < deadline, "the report job did not finish"
        time.sleep(0.2)

    job = Job.objects.get(pk=run.job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.done >= 300
    progress = client.get(reverse("job_progress", args=[job.pk])).content.decode()
    assert reverse("audits:report_download", args=[run.pk]) in progress
    download = client.get(reverse("audits:report_download", args=[run.pk]))
    body = b"".join(download.streaming_content)
    assert download.status_code == 200
    assert "美瑞家电有限公司" in pdf_text(body)[1]
    assert (report_media / "reports" / f"{run.pk}.pdf").read_bytes() == body
    assert AuditEvent.objects.filter(
        action=AuditAction.REPORT_GENERATED, object_id=str(run.pk), actor=live_cast.compliance
    ).exists()
