"""Choices shared by the models, services, engine and pages of transfers."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class DealStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    NOTICE_PERIOD = "notice_period", _("Notice period")
    IN_HANDOVER = "in_handover", _("In handover")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class AssignmentRole(models.TextChoices):
    BROKER = "broker", _("Broker")
    COMPLIANCE = "compliance", _("Compliance officer")
    BUYER = "buyer", _("Buyer")


class StageKind(models.TextChoices):
    """The layers of disclosure (DESIGN.md guarantee 8)."""

    AGGREGATE = "aggregate", _("Aggregate")
    PSEUDONYMISED = "pseudonymised", _("Pseudonymised")
    IDENTIFIED = "identified", _("Identified")


class StageStatus(models.TextChoices):
    # "Submitted" and "Approved" are also column headings (the time of the act) elsewhere in
    # the catalogue; as a status they are states, so they get a context of their own.
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", pgettext_lazy("stage status", "Submitted")
    APPROVED = "approved", pgettext_lazy("stage status", "Approved")
    RUNNING = "running", _("Running")
    DELIVERED = "delivered", _("Delivered")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    REJECTED = "rejected", _("Rejected")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class RunRefusal(models.TextChoices):
    """Why the engine refused to run a stage (DESIGN.md guarantee 8, checked at run time)."""

    NOT_APPROVED = "not_approved", _("The stage has no recorded four-eyes approval.")
    NOT_FOUR_EYES = (
        "not_four_eyes",
        _("The stage's approval was not made by a compliance officer other than its requester."),
    )
    SEAL = "seal", _("The stage's approval record does not verify.")
    SCOPE_CHANGED = (
        "scope_changed",
        _("The stage's kind, tiers or selection differ from what was approved."),
    )
    POPULATION_CHANGED = (
        "population_changed",
        _("The stage's approved customers differ from those recorded at approval."),
    )
    UNTOLD = (
        "untold",
        _(
            "Customers of this identified stage have not been told, or their objection window is "
            "still open."
        ),
    )


class ExclusionReason(models.TextChoices):
    """Why a selected customer is not handed over; values mirror ``CustomerStatus``."""

    OBJECTED = "objected", _("Objected to the transfer")
    LEGAL_HOLD = "legal_hold", _("On legal hold")
    ERASED = "erased", _("Erased")


#: Object permissions each assignment role receives on its deal (guardian, direct FK).
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    AssignmentRole.BROKER: ("view_transferdeal", "change_transferdeal", "plan_stages"),
    AssignmentRole.COMPLIANCE: ("view_transferdeal", "approve_stages"),
    AssignmentRole.BUYER: ("view_transferdeal", "access_portal"),
}


def choice_label(choices: type[models.TextChoices], value: str) -> str:
    """The label of a stored choice value in the current language; a value the choices do not
    know (renamed since it was stored) is shown as it is rather than failing."""
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)
