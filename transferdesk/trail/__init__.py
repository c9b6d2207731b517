"""The audit trail, the bottom floor every app writes: ``AuditEvent``, ``record_event``, the
keyed chain (``chain``), access logging (``log_access``) and the action catalogue.

Part of the core: nothing here imports an app. The model keeps the audits app's label and table
(``audits_auditevent``), so its migrations, trigger and stored rows are the audits app's.
"""

from .access import log_access, records_access
from .choices import AuditAction
from .models import GENESIS_MAC, AuditEvent
from .selectors import ChainHead, chain_head
from .services import CHAIN_LOCK_ID, clean_details, record_event

__all__ = [
    "CHAIN_LOCK_ID",
    "GENESIS_MAC",
    "AuditAction",
    "AuditEvent",
    "ChainHead",
    "chain_head",
    "clean_details",
    "log_access",
    "record_event",
    "records_access",
]
