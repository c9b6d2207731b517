"""Models owned by the project package: the data keys of the crypto layer, job rows and the
runs of periodic jobs."""

from __future__ import annotations

from .crypto import checks as _crypto_checks  # noqa: F401 - registers the system checks
from .crypto.models import DataKey, DataKeyPurpose
from .jobs import Job, JobStatus
from .periodic import PeriodicRun

__all__ = ["DataKey", "DataKeyPurpose", "Job", "JobStatus", "PeriodicRun"]
