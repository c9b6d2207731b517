from django.db import models
from django.utils.translation import gettext_lazy as _


class OrganizationKind(models.TextChoices):
    SELLER = "seller", _("Seller")
    BUYER = "buyer", _("Buyer")
    BROKER = "broker", _("Broker firm")


class Tier(models.TextChoices):
    """Sensitivity grades: general is stored in clear, sensitive and core are encrypted, and
    core needs the ``customers.view_core_fields`` permission and an audit event to read."""

    GENERAL = "general", _("General")
    SENSITIVE = "sensitive", _("Sensitive")
    CORE = "core", _("Core")


class CustomerStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    OBJECTED = "objected", _("Objected to the transfer")
    ERASED = "erased", _("Erased")
    LEGAL_HOLD = "legal_hold", _("On legal hold")


class StatusChangeReason(models.TextChoices):
    """Why another part of the product changed a record's status (stored with the history row
    as a code, shown as its label)."""

    OBJECTION = "objection", _("The customer objected to the transfer")


class LegalBasis(models.TextChoices):
    """Legal bases for processing (GDPR art. 6, PIPL art. 13)."""

    CONSENT = "consent", _("Consent")
    CONTRACT = "contract", _("Performance of a contract")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation")
    VITAL_INTERESTS = "vital_interests", _("Vital interests")
    PUBLIC_TASK = "public_task", _("Public task")
    LEGITIMATE_INTERESTS = "legitimate_interests", _("Legitimate interests")


class InteractionChannel(models.TextChoices):
    PHONE = "phone", _("Phone")
    EMAIL = "email", _("E-mail")
    IN_PERSON = "in_person", _("In person")
    CHAT = "chat", _("Chat")
    LETTER = "letter", _("Letter")
    OTHER = "other", _("Other")


class RevealReason(models.TextChoices):
    """Why a broker reveals a record's core fields. A closed list, as for corrections: the
    reason goes into the audit event, which must never hold personal data."""

    SUBJECT_REQUEST = "subject_request", _("Answering the customer's own request")
    IDENTITY_CHECK = "identity_check", _("Checking the customer's identity")
    CORRECTION = "correction", _("Checking a record before correcting it")
    HANDOVER_CHECK = "handover_check", _("Checking the record before a handover")
    LEGAL = "legal", _("A legal or regulatory request")
