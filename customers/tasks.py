"""Customer jobs: thin Celery wrappers that call services with primary keys only."""

from __future__ import annotations

from celery import shared_task

from .services import import_upload_run


@shared_task(
    name="customers.tasks.customer_import",
    queue="maintenance",
    acks_late=True,
    reject_on_worker_lost=True,
)
def customer_import_task(upload_id: str, job_id: str) -> str:
    """Import an uploaded customer file (its bytes stay encrypted in the database; the message
    carries the two ids, nothing else). A redelivered message finds the upload finished and
    does nothing."""
    outcome = import_upload_run(upload_id=upload_id, job_id=job_id)
    return f"rows={outcome.rows} customers={outcome.customers} applied={outcome.applied}"
