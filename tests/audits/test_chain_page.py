"""The compliance page that verifies the audit chain: a run started there is a job whose result
the page shows in words, in the reader's language, next to the history of runs."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audits.models import ChainVerificationRun
from audits.tasks import verify_audit_chain_task
from transferdesk.celery import app
from transferdesk.trail import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer(client, cast, django_capture_on_commit_callbacks):
    client.force_login(cast.compliance)
    return client


def test_a_run_started_on_the_page_is_a_job_whose_success_the_page_shows(
    officer, chain, django_capture_on_commit_callbacks
):
    eager, app.conf.task_always_eager = app.conf.task_always_eager, True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = officer.post(reverse("audits:chain_verify"))
    finally:
        app.conf.task_always_eager = eager
    run = ChainVerificationRun.objects.get()
    events = AuditEvent.objects.count()  # the chain, and the officer's sign-in
    assert response.url == f"{reverse('audits:chain')}?run={run.pk}"
    assert (run.trigger, run.status, run.events, run.job.status) == (
        "page", "succeeded", events, "succeeded"
    )  # fmt: skip

    page = officer.get(response.url).content.decode()
    assert "The audit chain is intact." in page
    assert f"{events} events verified, from the first to the head." in page


def test_a_broken_daily_run_is_shown_in_words_in_the_readers_language(officer, chain, tamper):
    assert verify_audit_chain_task.apply().get().startswith("OK")
    tamper("DELETE FROM audits_auditevent WHERE seq >= 5", [])
    verify_audit_chain_task.apply()
    broken = ChainVerificationRun.objects.get(status="failed")

    page = officer.get(
        reverse("audits:chain"), {"run": broken.pk}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    assert "审计链在第 5 号事件处断裂。" in page
    assert "第 5 至 7 号事件缺失，链尾已被删除" in page  # noqa: RUF001 - the Chinese comma
    assert page.count("<tr>") == 3  # the heading row and both daily runs


def test_the_run_fragment_polls_while_running_and_stops_when_finished(officer):
    running = ChainVerificationRun.objects.create(trigger="page")
    fragment = officer.get(reverse("audits:chain_run", args=[running.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in fragment
    verify_audit_chain_task.apply(args=[str(running.pk)])
    fragment = officer.get(reverse("audits:chain_run", args=[running.pk])).content.decode()
    assert "hx-trigger" not in fragment
