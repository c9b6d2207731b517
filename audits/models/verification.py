"""Runs of the audit-chain verification: one row each, successes included, so that their
history is evidence and each verified head is a checkpoint for the next run."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.choices import Role
from transferdesk.permissions import RestrictedQuerySet
from transferdesk.principals import ApiScope

from .backups import RunStatus


class VerificationTrigger(models.TextChoices):
    DAILY = "daily", _("Daily check")
    PAGE = "page", _("Started on the page")
    COMMAND = "command", _("Command line")


class ChainVerificationRun(models.Model):
    """One walk of the whole audit chain: who or what started it, and what it found.

    A failed run keeps the problem code and its parameters
    (``transferdesk.trail.chain.problem_message`` turns them into words in the reader's
    language), never personal data: positions, MACs and the names of checkpoints (deal
    references, file names, dates).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    trigger = models.CharField(_("started by"), max_length=16, choices=VerificationTrigger.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    job = models.OneToOneField(
        "transferdesk.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    events = models.BigIntegerField(_("events verified"), default=0)
    head_seq = models.BigIntegerField(_("audit chain head (position)"), default=0)
    head_mac = models.CharField(_("audit chain head (MAC)"), max_length=64, blank=True)
    first_bad_seq = models.BigIntegerField(_("first bad event"), null=True, blank=True)
    problem = models.CharField(_("problem"), max_length=32, blank=True)
    params = models.JSONField(_("problem details"), default=dict, blank=True)
    checkpoints = models.JSONField(_("checkpoints checked"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("audit chain verification")
        verbose_name_plural = _("audit chain verifications")
        indexes = [models.Index(fields=["status", "-head_seq"], name="chainrun_status_head_idx")]

    def __str__(self) -> str:
        return f"verification {self.started_at:%Y-%m-%d %H:%M}"

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> models.Q:
        return models.Q() if user.has_role(Role.COMPLIANCE) else models.Q(pk__in=[])

    @classmethod
    def restrict_machine_q(cls, principal: Any, action: str) -> models.Q:
        """There is one chain for everyone: a key reading events reads how its last
        verification went (the API shows positions, MACs and the outcome, no checkpoint
        names, which are other deals' references)."""
        if action == "view" and principal.has_scope(ApiScope.EVENTS_READ):
            return models.Q()
        return models.Q(pk__in=[])
