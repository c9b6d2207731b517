"""Generated compliance reports: which PDF, for whom, over what, and where it is kept."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ReportKind(models.TextChoices):
    DEAL_AUDIT = "deal_audit", _("Deal audit report")
    ACCESS = "access", _("Access report")
    PROCESSING = "processing", _("Record of processing activities")
    ACCESS_REVIEW = "access_review", _("Access-review report")


class ReportRun(models.Model):
    """One generated (or generating) report PDF.

    The file lives under ``MEDIA_ROOT/reports`` (never in static files) and is served only by
    the compliance download view. ``params`` holds references (deal reference, dates, campaign
    id), never personal data. ``sha256`` and the chain head let a copy be matched to this row.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("kind"), max_length=32, choices=ReportKind.choices)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    job = models.OneToOneField(
        "transferdesk.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    file = models.CharField(_("file"), max_length=255, blank=True, help_text=_("Under MEDIA_ROOT."))
    size = models.BigIntegerField(_("size in bytes"), default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    rows = models.BigIntegerField(_("rows"), default=0)
    chain_head_seq = models.BigIntegerField(_("audit chain head (position)"), default=0)
    chain_head_mac = models.CharField(_("audit chain head (MAC)"), max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("report")
        verbose_name_plural = _("reports")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_ready(self) -> bool:
        return bool(self.file)
