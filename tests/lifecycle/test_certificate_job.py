"""The certificate of a large purge run is a job on the ``reports`` queue with progress; the
run links to it and the page shows the progress until the PDF is ready."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from audits.models import DestructionCertificate, PurgeRun
from audits.retention import purge_policy
from audits.tasks_lifecycle import certificate_for_run_task

pytestmark = pytest.mark.django_db

LONG_AGO = dt.date(2020, 1, 1)


def test_a_large_runs_certificate_is_a_job_with_progress(
    cast, client, settings, make_customer, contract_policy, eager_tasks,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    settings.TRANSFERDESK_CERTIFICATE_INLINE_MAX = 2
    for _ in range(3):
        make_customer(retention_until=LONG_AGO)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        purge_policy(policy=contract_policy(), actor=cast.compliance)
    run = PurgeRun.objects.select_related("certificate_job").get()
    job = run.certificate_job
    assert job is not None and job.kind == "destruction_certificate"
    assert (job.status, job.done, job.total) == ("queued", 0, 3)
    assert not DestructionCertificate.objects.exists()
    assert certificate_for_run_task.queue == "reports"
    # Until the worker has built it, the run's certificate link shows the job's progress.
    client.force_login(cast.compliance)
    page_url = reverse("lifecycle:run_certificate", args=[run.pk])
    page = client.get(page_url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "0 of 3" in html and reverse("job_progress", args=[job.pk]) in html
    assert page_url in client.get(reverse("lifecycle:retention")).content.decode()

    for callback in queued:  # the commit happens: the task runs (eagerly)
        callback()

    job.refresh_from_db()
    certificate = DestructionCertificate.objects.get(run=run)
    assert (job.status, job.done, job.total) == ("succeeded", 3, 3)
    pdf_url = reverse("lifecycle:certificate_pdf", args=[certificate.pk])
    assert job.result["download_url"] == pdf_url
    assert certificate.key_count == 3 and bytes(certificate.pdf).startswith(b"%PDF")
    assert client.get(page_url)["Location"] == pdf_url
    # A redelivered task changes nothing: one certificate per run.
    certificate_for_run_task.apply(args=[str(run.pk), str(job.pk)])
    assert DestructionCertificate.objects.filter(run=run).count() == 1


def test_a_small_runs_certificate_is_still_made_inline(cast, make_customer, contract_policy):
    make_customer(retention_until=LONG_AGO)
    purge_policy(policy=contract_policy(), actor=cast.compliance)
    run = PurgeRun.objects.get()
    assert run.certificate_job_id is None
    assert DestructionCertificate.objects.filter(run=run).exists()


def test_a_failed_certificate_job_can_be_asked_for_again(
    cast, client, settings, make_customer, contract_policy, eager_tasks,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    from transferdesk.jobs import job_fail

    settings.TRANSFERDESK_CERTIFICATE_INLINE_MAX = 0
    make_customer(retention_until=LONG_AGO)
    with django_capture_on_commit_callbacks(execute=False):
        purge_policy(policy=contract_policy(), actor=cast.compliance)
    run = PurgeRun.objects.get()
    job_fail(job_id=run.certificate_job_id, error="worker lost")
    client.force_login(cast.compliance)
    url = reverse("lifecycle:run_certificate", args=[run.pk])
    assert "Build the certificate again" in client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url).status_code == 302
    run.refresh_from_db()
    assert run.certificate_job.status == "succeeded"
    assert DestructionCertificate.objects.filter(run=run).exists()
