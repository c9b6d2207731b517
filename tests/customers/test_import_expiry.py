"""Uploads never outlive their purpose: a file left at the mapping step is wiped and its key
destroyed when it expires, an erasure in the book reaches the files still kept for an import,
and a run whose worker vanished is failed by the sweeper (nothing applied) so the broker can
apply the mapping again while the file is kept."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from audits.retention import customer_erase
from customers.models import Customer, ImportStatus, ImportUpload
from customers.services import (
    _upload_aad,
    import_uploads_sweep,
    organization_grant,
)
from customers.tasks import expire_import_uploads, sweep_stalled_imports
from tests.factories import OrganizationFactory
from transferdesk.crypto import aead
from transferdesk.crypto.errors import DecryptionError
from transferdesk.models import DataKey
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

FILE = "reference,full_name,email\nC-1,Wang Fang,wang.fang@example.com\nC-2,Li Na,li@example.cn\n"


@pytest.fixture
def book(cast, make_customer, client):
    organization_grant(
        actor=cast.admin, user=cast.broker, organization=cast.seller, permission="manage_customers"
    )
    cast.customer = make_customer(
        organization=cast.seller, reference="C-9", full_name="Wang Fang", email="wf@example.com"
    )
    client.force_login(cast.broker)
    return cast


def upload(client, slug, content: str = FILE):
    file = io.BytesIO(content.encode())
    file.name = "customers.csv"
    response = client.post(reverse("customers:import_upload", args=[slug]), {"file": file})
    assert response.status_code == 302
    return ImportUpload.objects.latest("created_at"), response["Location"]


def unreadable(stored: ImportUpload, ciphertext: bytes) -> None:
    """The file is gone from the row, and the copy taken before cannot be opened any more."""
    stored.refresh_from_db()
    assert stored.content is None
    key = DataKey.objects.get(pk=stored.data_key_id)
    assert key.is_destroyed
    with pytest.raises(DecryptionError):
        aead.decrypt(key.unwrap(), ciphertext, _upload_aad(stored))


def test_erasing_a_customer_destroys_the_upload_waiting_at_the_mapping_step(book, client):
    stored, mapping_url = upload(client, book.seller.slug)
    ciphertext = bytes(stored.content)  # what a backup or a dump of the row would hold
    assert client.get(mapping_url).status_code == 200

    customer_erase(actor=book.compliance, customer=book.customer, request_ref="DSR-7")

    unreadable(stored, ciphertext)
    assert stored.status == ImportStatus.EXPIRED
    assert AuditEvent.objects.filter(
        action=AuditAction.KEY_DESTROYED,
        object_id=str(stored.data_key_id),
        details__reason="customer_erased",
    ).exists()
    # The mapping step is over: the page says what happened, nothing can be applied.
    page = client.get(mapping_url, follow=True)
    assert "This upload has expired" in page.text and "was erased" in page.text
    client.post(mapping_url, {"col_0": "reference", "col_1": "full_name", "col_2": "email"})
    assert not Customer.objects.filter(reference="C-1").exists()


def test_an_erasure_in_another_book_leaves_this_books_upload_alone(book, client, make_customer):
    stored, _url = upload(client, book.seller.slug)
    other = make_customer(organization=OrganizationFactory(), reference="X-1", full_name="X")
    customer_erase(actor=book.compliance, customer=other, request_ref="DSR-8")
    stored.refresh_from_db()
    assert stored.content is not None and stored.status == ImportStatus.UPLOADED


def test_an_upload_left_at_the_mapping_step_is_wiped_once_it_expires(book, client):
    stored, mapping_url = upload(client, book.seller.slug)
    ciphertext = bytes(stored.content)
    hours = settings.IMPORT_UPLOAD_EXPIRE_HOURS
    ImportUpload.objects.filter(pk=stored.pk).update(
        created_at=timezone.now() - timedelta(hours=hours - 1)
    )
    assert expire_import_uploads() == 0  # not yet
    ImportUpload.objects.filter(pk=stored.pk).update(
        created_at=timezone.now() - timedelta(hours=hours, minutes=1)
    )

    assert expire_import_uploads() == 1

    unreadable(stored, ciphertext)
    assert stored.status == ImportStatus.EXPIRED
    assert AuditEvent.objects.filter(
        action=AuditAction.KEY_DESTROYED, details__reason="import_upload_expired"
    ).exists()
    listing = client.get(reverse("customers:import_upload", args=[book.seller.slug]))
    assert "Expired" in listing.text and "Waiting for the column mapping" not in listing.text
    assert "destroyed unread" in client.get(mapping_url, follow=True).text


def test_an_upload_past_its_expiry_cannot_be_applied_before_the_job_has_wiped_it(book, client):
    stored, mapping_url = upload(client, book.seller.slug)
    ImportUpload.objects.filter(pk=stored.pk).update(
        created_at=timezone.now() - timedelta(hours=settings.IMPORT_UPLOAD_EXPIRE_HOURS + 1)
    )
    page = client.post(
        mapping_url, {"col_0": "reference", "col_1": "full_name", "col_2": "email"}, follow=True
    )
    assert "This upload has expired" in page.text
    assert not Customer.objects.filter(reference="C-1").exists()


def test_the_expiry_and_the_sweeper_are_periodic_jobs_on_the_maintenance_queue():
    schedule = {entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for task in ("customers.tasks.expire_import_uploads", "customers.tasks.sweep_stalled_imports"):
        assert schedule[task]["options"] == {"queue": "maintenance"}


def _lost_run(stored: ImportUpload) -> None:
    """What a killed run leaves: the upload claimed, its lease long gone, nothing applied."""
    ImportUpload.objects.filter(pk=stored.pk).update(
        status=ImportStatus.RUNNING, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_run_whose_lease_expired_is_failed_and_the_mapping_can_be_applied_again(book, client):
    stored, mapping_url = upload(client, book.seller.slug)
    _lost_run(stored)
    assert sweep_stalled_imports() == 1
    stored.refresh_from_db()
    assert stored.status == ImportStatus.FAILED and stored.content is not None
    result = client.get(reverse("customers:import_result", args=[book.seller.slug, stored.pk]))
    assert "its worker was lost" in result.text and "Apply the mapping again" in result.text

    client.post(mapping_url, {"col_0": "reference", "col_1": "full_name", "col_2": "email"})

    stored.refresh_from_db()
    assert stored.status == ImportStatus.APPLIED and stored.content is None
    assert Customer.objects.filter(reference__in=["C-1", "C-2"]).count() == 2


def test_a_run_with_a_live_lease_is_left_alone(book, client):
    stored, _url = upload(client, book.seller.slug)
    ImportUpload.objects.filter(pk=stored.pk).update(
        status=ImportStatus.RUNNING, lease_expires_at=timezone.now() + timedelta(minutes=5)
    )
    assert import_uploads_sweep() == 0
    assert ImportUpload.objects.get(pk=stored.pk).status == ImportStatus.RUNNING


def test_a_job_whose_message_was_lost_is_sent_again_by_the_sweeper_and_applied_once(
    book, client, eager_tasks
):
    """The broker was down when the mapping was applied: the job never started. The sweeper
    sends it again rather than failing it (run in-process here, whatever the broker; the
    live-worker test covers a real one)."""
    from transferdesk.jobs import JobStatus, job_create

    stored, _url = upload(client, book.seller.slug)
    job = job_create(kind="customer_import", actor=book.broker, total=2, obj=stored)
    ImportUpload.objects.filter(pk=stored.pk).update(job=job)
    _lost_run(stored)

    assert import_uploads_sweep() == 0  # none failed: re-sent

    stored.refresh_from_db()
    assert stored.status == ImportStatus.APPLIED
    assert Customer.objects.filter(reference__in=["C-1", "C-2"]).count() == 2
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert import_uploads_sweep() == 0
