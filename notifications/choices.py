"""What a notification is about, how each kind is worded, and how it reaches the inbox."""

from __future__ import annotations

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    """One kind per event someone is told about; the kind is also the message's id."""

    STAGE_SUBMITTED = "stage_submitted", _("Stage waiting for approval")
    STAGE_APPROVED = "stage_approved", _("Stage approved")
    STAGE_REJECTED = "stage_rejected", _("Stage rejected")
    STAGE_FAILED = "stage_failed", _("Stage failed")
    STAGE_DELIVERED = "stage_delivered", _("Stage delivered")
    CAMPAIGN_PREPARED = "campaign_prepared", _("Notices waiting for approval")
    INCIDENT_NOTICES_PREPARED = (
        "incident_notices_prepared",
        _("Incident notices waiting for approval"),
    )
    QUESTION_ASKED = "question_asked", _("Buyer question")
    QUESTION_REPLIED = "question_replied", _("Buyer reply to a question")
    QUESTION_ANSWERED = "question_answered", _("Question answered")
    FOLLOWUP_CREATED = "followup_created", _("Follow-up task")
    REQUEST_RECEIVED = "request_received", _("Data-subject request received")
    REQUEST_ASSIGNED = "request_assigned", _("Data-subject request assigned")
    REQUEST_DUE_SOON = "request_due_soon", _("Data-subject request due soon")
    REQUEST_OVERDUE = "request_overdue", _("Data-subject request overdue")
    FOLLOWUP_DUE_SOON = "followup_due_soon", _("Follow-up task due soon")
    REVIEW_STARTED = "review_started", _("Access review started")
    REVIEW_ENDING = "review_ending", _("Access review ending")
    INCIDENT_HALF = "incident_half", _("Incident deadline half gone")
    INCIDENT_90 = "incident_90", _("Incident deadline nearly gone")
    CHAIN_FAILED = "chain_failed", _("Audit chain verification failed")
    JOB_FINISHED = "job_finished", _("Job finished")
    JOB_FAILED = "job_failed", _("Job failed")


class Delivery(models.TextChoices):
    """How a kind reaches a user's mailbox (the notification centre always shows it)."""

    IMMEDIATELY = "immediately", _("E-mail at once")
    DIGEST = "digest", _("Daily digest")
    NONE = "none", _("No e-mail")


#: The text of each kind, with the names of its parameters. Parameters are references, names
#: of stages and numbers, never a customer's personal data.
MESSAGES: dict[str, Promise] = {
    Kind.STAGE_SUBMITTED: _("Stage “{stage}” of deal {deal} waits for your approval."),
    Kind.STAGE_APPROVED: _("Stage “{stage}” of deal {deal} was approved."),
    Kind.STAGE_REJECTED: _("Stage “{stage}” of deal {deal} was rejected."),
    Kind.STAGE_FAILED: _("Stage “{stage}” of deal {deal} failed."),
    Kind.STAGE_DELIVERED: _("Stage “{stage}” of deal {deal} was delivered."),
    Kind.CAMPAIGN_PREPARED: _("Transfer notices of deal {deal} wait for your approval."),
    Kind.INCIDENT_NOTICES_PREPARED: _("Notices of incident {incident} wait for your approval."),
    Kind.QUESTION_ASKED: _("A buyer asked question {question} on deal {deal}."),
    Kind.QUESTION_REPLIED: _("A buyer replied on question {question} of deal {deal}."),
    Kind.QUESTION_ANSWERED: _("Your question {question} on deal {deal} was answered."),
    Kind.FOLLOWUP_CREATED: _(
        "A follow-up task on deal {deal} is due by {due}: a handed-over record changed."
    ),
    Kind.REQUEST_RECEIVED: _("Data-subject request {request} was received; due by {due}."),
    Kind.REQUEST_ASSIGNED: _("Data-subject request {request} was assigned to you; due by {due}."),
    Kind.REQUEST_DUE_SOON: _("Data-subject request {request} must be answered by {due}."),
    Kind.REQUEST_OVERDUE: _("Data-subject request {request} is overdue: it was due by {due}."),
    Kind.FOLLOWUP_DUE_SOON: _("A follow-up task on deal {deal} is due by {due}."),
    Kind.REVIEW_STARTED: _("Access review “{review}” waits for your decisions by {due}."),
    Kind.REVIEW_ENDING: _(
        "Access review “{review}” ends by {due}: grants not kept by then are revoked."
    ),
    Kind.INCIDENT_HALF: _(
        "Incident {incident}: half the time to its {clock} deadline has gone (due {due})."
    ),
    Kind.INCIDENT_90: _(
        "Incident {incident}: 90 per cent of the time to its {clock} deadline has gone (due {due})."
    ),
    Kind.CHAIN_FAILED: _("The audit chain did not verify: check the chain page."),
    Kind.JOB_FINISHED: _("Your job “{job}” finished."),
    Kind.JOB_FAILED: _("Your job “{job}” failed."),
}

#: Defaults for a user who chose nothing: what waits on them and deadlines at once, the rest
#: in the daily digest.
DEFAULT_DELIVERY: dict[str, str] = {
    Kind.STAGE_SUBMITTED: Delivery.IMMEDIATELY,
    Kind.CAMPAIGN_PREPARED: Delivery.IMMEDIATELY,
    Kind.INCIDENT_NOTICES_PREPARED: Delivery.IMMEDIATELY,
    Kind.FOLLOWUP_CREATED: Delivery.IMMEDIATELY,
    Kind.REQUEST_RECEIVED: Delivery.IMMEDIATELY,
    Kind.REQUEST_ASSIGNED: Delivery.IMMEDIATELY,
    Kind.REQUEST_DUE_SOON: Delivery.IMMEDIATELY,
    Kind.REQUEST_OVERDUE: Delivery.IMMEDIATELY,
    Kind.FOLLOWUP_DUE_SOON: Delivery.IMMEDIATELY,
    Kind.REVIEW_STARTED: Delivery.IMMEDIATELY,
    Kind.REVIEW_ENDING: Delivery.IMMEDIATELY,
    Kind.INCIDENT_HALF: Delivery.IMMEDIATELY,
    Kind.INCIDENT_90: Delivery.IMMEDIATELY,
    Kind.CHAIN_FAILED: Delivery.IMMEDIATELY,
    Kind.QUESTION_ANSWERED: Delivery.IMMEDIATELY,
    Kind.STAGE_APPROVED: Delivery.IMMEDIATELY,
    Kind.STAGE_REJECTED: Delivery.IMMEDIATELY,
    Kind.STAGE_FAILED: Delivery.IMMEDIATELY,
    Kind.STAGE_DELIVERED: Delivery.DIGEST,
    Kind.QUESTION_ASKED: Delivery.IMMEDIATELY,
    Kind.QUESTION_REPLIED: Delivery.IMMEDIATELY,
    Kind.JOB_FINISHED: Delivery.DIGEST,
    Kind.JOB_FAILED: Delivery.IMMEDIATELY,
}

#: Job kinds (or prefixes of them) in words, for the job notifications; an unknown kind is
#: shown as it is stored.
JOB_LABELS: dict[str, Promise] = {
    "customer_import": _("Customer import"),
    "report_": _("Report"),
    "audit_chain_verify": _("Audit chain verification"),
    "purge": _("Retention purge"),
    "restore_drill": _("Restore drill"),
    "notice_campaign": _("Sending notices"),
    "destruction_certificate": _("Destruction certificate"),
}


def job_label(kind: str) -> str:
    for prefix, label in JOB_LABELS.items():
        if kind.startswith(prefix):
            return str(label)
    return kind
