"""The audits app's models, one module per concern: the event chain, access reviews,
retention and destruction, backups, incidents."""

from .events import GENESIS_MAC, AuditEvent
from .reports import ReportKind, ReportRun
from .reviews import (
    AccessReviewCampaign,
    AccessReviewItem,
    AccessReviewReminder,
    CampaignStatus,
    ReviewDecision,
)

__all__ = [
    "GENESIS_MAC",
    "AccessReviewCampaign",
    "AccessReviewItem",
    "AccessReviewReminder",
    "AuditEvent",
    "CampaignStatus",
    "ReportKind",
    "ReportRun",
    "ReviewDecision",
]
