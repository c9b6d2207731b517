"""Models owned by the project package: the data keys of the crypto layer, and job rows."""

from __future__ import annotations

from .crypto import checks as _crypto_checks  # noqa: F401 - registers the system checks
from .crypto.models import DataKey, DataKeyPurpose
from .jobs import Job, JobStatus

__all__ = ["DataKey", "DataKeyPurpose", "Job", "JobStatus"]
