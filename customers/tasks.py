"""Customer jobs: thin Celery wrappers that call services with primary keys only."""

from __future__ import annotations

from celery import shared_task

from .services import (
    import_upload_check_run,
    import_upload_run,
    import_uploads_expire,
    import_uploads_sweep,
)


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


@shared_task(
    name="customers.tasks.customer_import_check",
    queue="maintenance",
    acks_late=True,
    reject_on_worker_lost=True,
)
def customer_import_check_task(upload_id: str, job_id: str) -> str:
    """Check an uploaded customer file without importing it (the ids only, as the import); a
    redelivered message finds the job finished and does nothing."""
    import_upload_check_run(upload_id=upload_id, job_id=job_id)
    return "checked"


@shared_task(name="customers.tasks.sweep_stalled_imports")
def sweep_stalled_imports() -> int:
    """Beat, every minute: fail running imports whose lease expired (a killed worker)."""
    return import_uploads_sweep()


@shared_task(name="customers.tasks.expire_import_uploads")
def expire_import_uploads() -> int:
    """Beat, every 15 minutes: wipe uploads left unapplied past their expiry."""
    return import_uploads_expire()
