"""Models owned by the project package: the data keys of the crypto layer."""

from __future__ import annotations

from .crypto.models import DataKey, DataKeyPurpose

__all__ = ["DataKey", "DataKeyPurpose"]
