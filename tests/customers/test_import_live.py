"""An import job against real PostgreSQL, Redis and a Celery worker that is killed mid-import:
nothing is half-applied, the job does not stay "running" for ever (its lease expires and the
sweeper fails it with the reason), and the broker applies the mapping again, once."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
from django.urls import reverse

from customers.models import Customer, ImportStatus, ImportUpload
from customers.services import import_uploads_sweep, organization_grant
from tests.factories import make_cast
from tests.support.worker import LiveWorker
from transferdesk.jobs import Job, JobStatus
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.live_worker

ROWS = 30_000


@pytest.fixture
def tcast(transactional_db):
    from django.contrib.auth.models import Group

    from accounts.choices import Role

    for role in Role:  # role groups come from a data migration, which the flush removed
        Group.objects.get_or_create(name=role.value)
    cast = make_cast()
    organization_grant(
        actor=cast.admin, user=cast.broker, organization=cast.seller, permission="manage_customers"
    )
    return cast


def wait_for(predicate, timeout=180.0, every=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


def test_a_worker_killed_mid_import_is_failed_by_the_sweeper_and_applied_once_on_retry(
    tcast, client
):
    client.force_login(tcast.broker)
    content = "reference,full_name\n" + "".join(f"K-{i:06d},Name {i}\n" for i in range(ROWS))
    file = io.BytesIO(content.encode())
    file.name = "book.csv"
    response = client.post(
        reverse("customers:import_upload", args=[tcast.seller.slug]), {"file": file}
    )
    assert response.status_code == 302
    mapping_url = response["Location"]
    stored = ImportUpload.objects.get()
    mapping = {"col_0": "reference", "col_1": "full_name"}
    imported = Customer.objects.filter(organization=tcast.seller, reference__startswith="K-")

    worker = LiveWorker(queues="maintenance")
    worker.start()
    try:
        client.post(mapping_url, mapping)
        job = ImportUpload.objects.get(pk=stored.pk).job
        assert job is not None
        wait_for(lambda: Job.objects.get(pk=job.pk).done >= 2000)  # mid-import
        worker.kill()
    finally:
        worker.stop()

    stored.refresh_from_db()
    assert stored.status == ImportStatus.RUNNING
    assert not imported.exists()  # the import's transaction died with the worker
    # The heartbeat moved the lease on: the sweeper leaves a run alone until it expires.
    assert import_uploads_sweep() == 0
    assert stored.lease_expires_at is not None

    assert import_uploads_sweep(now=stored.lease_expires_at + timedelta(seconds=1)) == 1

    stored.refresh_from_db()
    assert stored.status == ImportStatus.FAILED and stored.content is not None
    failed = Job.objects.get(pk=job.pk)
    assert failed.status == JobStatus.FAILED and "worker was lost" in failed.error
    assert not imported.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.IMPORT).exists()
    result = client.get(reverse("customers:import_result", args=[tcast.seller.slug, stored.pk]))
    assert "Apply the mapping again" in result.text

    worker = LiveWorker(queues="maintenance")
    worker.start(purge=False)
    try:
        client.post(mapping_url, mapping)
        wait_for(
            lambda: (
                ImportUpload.objects.get(pk=stored.pk).status
                in (ImportStatus.APPLIED, ImportStatus.REJECTED, ImportStatus.FAILED)
            ),
            every=0.2,
        )
    finally:
        worker.stop()
    stored.refresh_from_db()
    assert stored.status == ImportStatus.APPLIED, stored.report
    assert stored.content is None
    assert imported.count() == ROWS
    assert AuditEvent.objects.filter(action=AuditAction.IMPORT).count() == 1
