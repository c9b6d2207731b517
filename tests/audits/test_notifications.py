"""Who is told about compliance work (issue 17): a broken audit chain → every officer and
administrator; a job someone started (a report, a verification) finished or failed → them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.choices import Role
from audits.models import ChainVerificationRun, ReportRun
from audits.tasks import verify_audit_chain_task
from notifications.choices import Kind
from notifications.models import Notification
from tests.audits.reporting import make_deal
from tests.factories import UserFactory
from tests.support.notifications import mails_to, told
from transferdesk import jobs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _mail_in_process(eager_tasks):
    """The e-mail tasks run in-process, under any broker (the live tests cover the worker)."""


def test_a_broken_chain_tells_every_officer_and_administrator(
    cast, chain, tamper, eager_tasks, django_capture_on_commit_callbacks
):
    UserFactory(username="compliance-2", organization=cast.broker_firm, roles=[Role.COMPLIANCE])
    assert verify_audit_chain_task.apply().get().startswith("OK")
    assert not told(Kind.CHAIN_FAILED)  # an intact chain tells nobody
    tamper("DELETE FROM audits_auditevent WHERE seq >= 5", [])
    with django_capture_on_commit_callbacks(execute=True):
        verify_audit_chain_task.apply()
    broken = ChainVerificationRun.objects.get(status="failed")
    assert told(Kind.CHAIN_FAILED) == {"compliance", "compliance-2", "admin"}
    note = Notification.objects.filter(kind=Kind.CHAIN_FAILED).first()
    assert note.url == reverse("audits:chain_run", args=[broken.pk])
    assert [m.subject for m in mails_to(cast.admin)] == [
        "TransferDesk: Audit chain verification failed"
    ]
    assert not mails_to(cast.broker)


def test_a_report_job_tells_whoever_asked_for_it_when_it_is_ready(
    client, cast, settings, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path)
    make_deal(cast)
    UserFactory(username="compliance-2", organization=cast.broker_firm, roles=[Role.COMPLIANCE])
    client.force_login(cast.compliance)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("audits:report_create"), {"kind": "deal_audit", "deal": "D-1"})
    run = ReportRun.objects.get()
    assert told(Kind.JOB_FINISHED) == {"compliance"}  # not the other officer
    note = Notification.objects.get(kind=Kind.JOB_FINISHED)
    assert note.url == reverse("audits:report_detail", args=[run.pk])
    assert note.text == "Your job “Report” finished."
    assert not mails_to(cast.compliance)  # finished jobs go to the daily digest by default


def test_a_failed_job_tells_whoever_started_it_once(cast, django_capture_on_commit_callbacks):
    job = jobs.job_create(kind="purge", actor=cast.compliance)
    with django_capture_on_commit_callbacks(execute=True):
        jobs.job_fail(job_id=job.pk, error="Disk full.")
        jobs.job_fail(job_id=job.pk, error="Disk full.")  # a repeated failure tells no more
    assert told(Kind.JOB_FAILED) == {"compliance"}
    assert Notification.objects.filter(kind=Kind.JOB_FAILED).count() == 1
    (message,) = mails_to(cast.compliance)
    assert "Your job “Retention purge” failed." in message.body
    assert "Disk full" not in message.body


def test_an_access_review_tells_its_reviewer_when_it_starts_and_once_as_it_ends(
    cast, eager_tasks, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from audits.reviews import campaign_send_reminders, campaign_start

    make_deal(cast)
    reviewer = UserFactory(username="reviewer", organization=cast.broker_firm,
                           roles=[Role.COMPLIANCE])  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaign_start(
            actor=cast.compliance, name="Q4 review",
            deadline=timezone.now() + timedelta(days=2), reviewer=reviewer,
        )  # fmt: skip
    assert told(Kind.REVIEW_STARTED) == {"reviewer"}  # not the officer who started it
    note = Notification.objects.get(kind=Kind.REVIEW_STARTED)
    assert note.url == reverse("audits:review_detail", args=[campaign.pk])
    assert [m.subject for m in mails_to(reviewer)] == ["TransferDesk: Access review started"]
    with django_capture_on_commit_callbacks(execute=True):
        assert campaign_send_reminders() == 1
        assert campaign_send_reminders(now=timezone.now() + timedelta(days=1)) == 1
    assert told(Kind.REVIEW_ENDING) == {"reviewer"}
    assert Notification.objects.filter(kind=Kind.REVIEW_ENDING).count() == 1  # once
    # The ending's e-mails are the review's own daily reminders, not a second copy.
    assert len(mails_to(reviewer)) == 3


def test_an_incidents_clock_tells_every_officer_at_half_and_at_90_per_cent(
    cast, eager_tasks, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from audits.incidents import incident_create, incidents_clock_notify

    UserFactory(username="compliance-2", organization=cast.broker_firm, roles=[Role.COMPLIANCE])
    start = timezone.now() - timedelta(hours=13)
    incident = incident_create(
        actor=cast.compliance, detected_at=start, description="Laptop lost.", severity="high",
        window_start=start, window_end=start, contact="dpo@example.test",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        # 13 h after detection: PIPL's 24 h are half gone, GDPR's 72 h not yet.
        assert incidents_clock_notify() == 2
        assert incidents_clock_notify() == 0  # once per duty and mark
    assert told(Kind.INCIDENT_HALF) == {"compliance", "compliance-2"}
    note = Notification.objects.filter(kind=Kind.INCIDENT_HALF).first()
    assert note.params["clock"] == "PIPL"
    assert note.url == reverse("lifecycle:incident_detail", args=[incident.pk])
    # 22 h: PIPL is 90 % gone; 40 h: GDPR is half gone.
    later = timezone.now() + timedelta(hours=9)
    assert incidents_clock_notify(now=later) == 2
    assert incidents_clock_notify(now=timezone.now() + timedelta(hours=27)) == 2
    assert sorted(
        Notification.objects.filter(recipient=cast.compliance).values_list("kind", "params__clock")
    ) == [("incident_90", "PIPL"), ("incident_half", "GDPR"), ("incident_half", "PIPL")]
    assert [m.subject for m in mails_to(cast.compliance)] == [
        "TransferDesk: Incident deadline half gone"
    ]


def test_each_job_links_to_the_page_where_its_outcome_is_shown(cast):
    from notifications.jobs import job_link

    purge = jobs.job_create(kind="purge", actor=cast.compliance)
    drill = jobs.job_create(kind="restore_drill", actor=cast.compliance)
    unknown = jobs.job_create(kind="something_new", actor=cast.compliance)
    assert job_link(purge) == reverse("lifecycle:retention")
    assert job_link(drill) == reverse("lifecycle:backups")
    assert job_link(unknown) == reverse("notifications:list")
