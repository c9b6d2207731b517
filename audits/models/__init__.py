"""The audits app's models, one module per concern: the event chain, access reviews,
retention and destruction, backups, incidents."""

from .events import GENESIS_MAC, AuditEvent

__all__ = ["GENESIS_MAC", "AuditEvent"]
