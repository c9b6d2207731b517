"""The audits app's models, one module per concern: the event chain, access reviews,
retention and destruction, backups, incidents."""

from .backups import BackupRun, RestoreDrill
from .events import GENESIS_MAC, AuditEvent
from .incidents import Incident
from .reports import ReportKind, ReportRun
from .retention import (
    DealDestruction,
    DestructionCertificate,
    DestructionTombstone,
    LegalHold,
    PurgeRun,
    RetentionPolicy,
)
from .reviews import (
    AccessReviewCampaign,
    AccessReviewItem,
    AccessReviewReminder,
    CampaignStatus,
    ReviewDecision,
)
from .verification import ChainVerificationRun, VerificationTrigger

__all__ = [
    "GENESIS_MAC",
    "AccessReviewCampaign",
    "AccessReviewItem",
    "AccessReviewReminder",
    "AuditEvent",
    "BackupRun",
    "CampaignStatus",
    "ChainVerificationRun",
    "DealDestruction",
    "DestructionCertificate",
    "DestructionTombstone",
    "Incident",
    "LegalHold",
    "PurgeRun",
    "ReportKind",
    "ReportRun",
    "RestoreDrill",
    "RetentionPolicy",
    "ReviewDecision",
    "VerificationTrigger",
]
