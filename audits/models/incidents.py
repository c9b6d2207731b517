"""The incident register: what happened, when it was detected, and the notification clocks."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class IncidentSeverity(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")


class IncidentStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CONTAINED = "contained", _("Contained")
    REPORTED = "reported", _("Reported to the authority")
    CLOSED = "closed", _("Closed")


#: The languages notices are written in (``transfers.notices.language_of``).
NOTICE_LANGUAGES = ("en", "zh-hans")
#: The free texts compliance writes for the people affected, once per notice language.
INCIDENT_TEXTS = ("description", "measures", "contact")


class Incident(models.Model):
    """A personal-data incident. The affected customers are computed from the access log over
    ``window_start`` to ``window_end`` (``audits.incidents.affected``), never typed by hand, so
    the list can be re-derived and checked by anyone holding the trail."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(_("reference"), max_length=32, unique=True)
    detected_at = models.DateTimeField(_("detected"))
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reported by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The free texts the people affected read exist in each language a notice is written in
    # (``NOTICE_LANGUAGES``): English in the plain fields, Simplified Chinese in ``*_zh``.
    description = models.TextField(_("description (English)"), max_length=4000)
    description_zh = models.TextField(
        _("description (Simplified Chinese)"), max_length=4000, blank=True
    )
    severity = models.CharField(_("severity"), max_length=16, choices=IncidentSeverity.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.OPEN
    )
    deals = models.ManyToManyField(
        "transfers.TransferDeal", verbose_name=_("affected deals"), blank=True, related_name="+"
    )
    window_start = models.DateTimeField(_("access window from"))
    window_end = models.DateTimeField(_("access window until"))
    suspect_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("accounts involved"),
        blank=True,
        related_name="+",
        help_text=_("Leave empty to count every access in the window."),
    )
    measures = models.TextField(_("measures taken (English)"), max_length=4000, blank=True)
    measures_zh = models.TextField(
        _("measures taken (Simplified Chinese)"), max_length=4000, blank=True
    )
    contact = models.CharField(
        _("contact for the people affected (English)"), max_length=255, blank=True
    )
    contact_zh = models.CharField(
        _("contact for the people affected (Simplified Chinese)"), max_length=255, blank=True
    )
    authority_notified_at = models.DateTimeField(_("authority notified"), null=True, blank=True)
    customers_notified_at = models.DateTimeField(_("customers notified"), null=True, blank=True)
    notices_sent = models.PositiveIntegerField(_("notices sent"), default=0)
    created_at = models.DateTimeField(_("recorded"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["-detected_at"]
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        constraints = [
            models.CheckConstraint(
                condition=Q(window_end__gte=F("window_start")),
                name="incident_window_ordered",
                violation_error_message=_("The window ends after it starts."),
            )
        ]

    def __str__(self) -> str:
        return self.reference

    def text(self, name: str, language: str) -> str:
        """One free text (``description``, ``measures``, ``contact``) in a language
        (``en`` or ``zh-hans``, as notices name them); empty when not given."""
        if name not in INCIDENT_TEXTS:
            raise ValueError(name)
        suffix = "_zh" if (language or "").lower().startswith("zh") else ""
        return getattr(self, name + suffix)

    def texts(self, language: str) -> dict[str, str]:
        """Every free text in one language, for a notice or a report written in it."""
        return {name: self.text(name, language) for name in INCIDENT_TEXTS}
