"""Ten thousand notices: a job with progress, every failure recorded, ids only in messages."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from celery.signals import before_task_publish
from django.core import mail
from django.utils import timezone

from tests.transfers.conftest import bulk_customers, make_deal
from transferdesk import jobs
from transferdesk.celery import app
from transfers import notices
from transfers.notice_models import CampaignStatus, Notice, NoticeStatus
from transfers.notice_tasks import notice_campaign_send

from .backends import refused

N = 10_000


def _is_id(value):
    try:
        uuid.UUID(str(value))
    except ValueError:
        return isinstance(value, int)
    return True


def _prepare(cast, deal):
    campaign = notices.campaign_prepare(
        actor=cast.broker, deal=deal, objection_deadline=timezone.now() + timedelta(days=30)
    )
    return notices.campaign_approve(actor=cast.compliance, campaign=campaign)


@pytest.mark.django_db
def test_ten_thousand_notices_run_as_a_job_with_progress_and_every_failure_recorded(
    cast, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.notices.backends.RefusingBackend"
    settings.NOTICE_BATCH_SIZE = 1000
    deal = make_deal(cast)
    bulk_customers(cast.seller, N, prefix="NTC")
    campaign = _prepare(cast, deal)

    progress: list[int] = []
    real_progress = jobs.job_progress

    def spy(*, job_id, done, total=None):
        progress.append(done)
        real_progress(job_id=job_id, done=done, total=total)

    monkeypatch.setattr(jobs, "job_progress", spy)
    enqueued: list[tuple] = []
    real_apply = notice_campaign_send.apply_async

    def record(args=None, kwargs=None, **options):
        enqueued.append((tuple(args or ()), dict(kwargs or {})))
        return real_apply(args=args, kwargs=kwargs, **options)

    monkeypatch.setattr(notice_campaign_send, "apply_async", record)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    started = time.monotonic()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            job = notices.campaign_send(actor=cast.broker, campaign=campaign)
    finally:
        app.conf.task_always_eager = eager
    elapsed = time.monotonic() - started

    job.refresh_from_db()
    campaign.refresh_from_db()
    assert job.status == jobs.JobStatus.SUCCEEDED, job.error
    assert job.total == job.done == N
    assert progress == list(range(1000, N + 1, 1000))  # one update per batch, monotonic
    expected_failed = sum(1 for i in range(N) if refused(f"c{i}@ntc.example"))
    rows = Notice.objects.filter(campaign=campaign)
    assert rows.filter(status=NoticeStatus.FAILED).count() == expected_failed
    assert rows.filter(status=NoticeStatus.SENT).count() == N - expected_failed
    assert len(mail.outbox) == N - expected_failed
    failure = rows.filter(status=NoticeStatus.FAILED).first()
    assert "550" in failure.failure_reason and "@" not in failure.failure_reason
    assert not rows.filter(status=NoticeStatus.SENT, sent_at__isnull=True).exists()
    assert job.result == {"sent": N - expected_failed, "failed": expected_failed}
    assert campaign.status == CampaignStatus.SENT
    # Task arguments: ids only.
    assert enqueued and all(_is_id(a) for args, kw in enqueued for a in (*args, *kw.values()))
    assert elapsed < 60, f"{N} notices took {elapsed:.0f} s"

    # Re-sending: the failed ones go again (the server accepts everyone now).
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox.clear()
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            again = notices.campaign_resend(actor=cast.broker, campaign=campaign)
    finally:
        app.conf.task_always_eager = eager
    again.refresh_from_db()
    assert again.status == jobs.JobStatus.SUCCEEDED and again.total == expected_failed
    assert len(mail.outbox) == expected_failed
    assert not rows.filter(status=NoticeStatus.FAILED).exists()
    assert rows.filter(attempts=2).count() == expected_failed


@pytest.mark.live_worker
def test_a_live_worker_sends_a_campaign_and_the_messages_carry_ids_only(tcast, live_worker):
    published: list[dict] = []

    def capture(body=None, headers=None, **_):
        if headers and headers.get("task", "").startswith("transfers.notice_tasks"):
            published.append({"body": body, "headers": headers})

    before_task_publish.connect(capture, weak=False)
    try:
        deal = make_deal(tcast)
        bulk_customers(tcast.seller, 50, prefix="LIVE")
        campaign = _prepare(tcast, deal)
        job = notices.campaign_send(actor=tcast.broker, campaign=campaign)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.is_finished:
                break
            time.sleep(0.2)
    finally:
        before_task_publish.disconnect(capture)
    assert job.status == jobs.JobStatus.SUCCEEDED, job.error
    assert job.done == 50
    assert Notice.objects.filter(campaign=campaign, status=NoticeStatus.SENT).count() == 50
    assert published
    for message in published:
        args, kwargs, _embed = message["body"]
        assert all(_is_id(a) for a in (*args, *kwargs.values())), args
        text = repr(message)
        assert "@live.example" not in text and "Customer " not in text
