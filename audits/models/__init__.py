"""The audits app's models, one module per concern: access reviews, retention and destruction,
backups, incidents. ``AuditEvent`` is defined in the core (``transferdesk.trail``) under this
app's label; it is imported here so that the app's model registry and migrations find it."""

from transferdesk.trail.models import AuditEvent  # noqa: F401  (registered under this app)

from .backups import BackupRun, RestoreDrill
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
    "AccessReviewCampaign",
    "AccessReviewItem",
    "AccessReviewReminder",
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
