"""Backup runs and restore drills: one row each, so their history is evidence, not a log file."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class BackupRun(models.Model):
    """One backup: the encrypted file, its manifest figures, and whether it is still retained.

    The file name carries only the time and a random id, never anything about the data.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(
        _("status"), max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    #: The moment the dump's snapshot was taken: keys destroyed after it are re-destroyed on
    #: restore.
    taken_at = models.DateTimeField(_("snapshot taken"), null=True, blank=True)
    file_name = models.CharField(_("file"), max_length=200, blank=True)
    size = models.BigIntegerField(_("size (bytes)"), default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    key_id = models.CharField(_("backup key id"), max_length=32, blank=True)
    engine = models.CharField(_("database"), max_length=100, blank=True)
    manifest = models.JSONField(_("manifest"), default=dict, blank=True)
    pruned_at = models.DateTimeField(_("pruned"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("backup run")
        verbose_name_plural = _("backup runs")

    def __str__(self) -> str:
        return self.file_name or f"backup {self.id}"


class RestoreDrill(models.Model):
    """One restore drill (or operator restore): did the backup come back whole and intact?"""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    backup = models.ForeignKey(
        BackupRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="drills"
    )
    file_name = models.CharField(_("file"), max_length=200, blank=True)
    is_drill = models.BooleanField(_("drill"), default=True)
    status = models.CharField(
        _("status"), max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    job = models.ForeignKey(
        "transferdesk.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    tables_checked = models.PositiveIntegerField(_("tables checked"), default=0)
    rows_checked = models.BigIntegerField(_("rows checked"), default=0)
    mismatches = models.JSONField(_("mismatches"), default=list, blank=True)
    keys_redestroyed = models.PositiveIntegerField(_("keys destroyed again"), default=0)
    chain_ok = models.BooleanField(_("audit chain verified"), null=True)
    chain_events = models.BigIntegerField(_("audit events"), default=0)
    seconds = models.FloatField(_("duration (s)"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("restore drill")
        verbose_name_plural = _("restore drills")

    def __str__(self) -> str:
        return f"drill {self.id}"
