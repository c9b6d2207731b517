"""The audit trail: append-only events, each chained to the previous one by a keyed MAC."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from transferdesk.restricted import RestrictedQuerySet

from .choices import AuditAction
from .scoping import machine_event_q

#: ``prev_mac`` of the first event of the chain.
GENESIS_MAC = "0" * 64


class AuditEvent(models.Model):
    """One thing that happened: who did what to which object, in which deal, when, from where.

    Events are written only by ``transferdesk.trail.record_event`` and never changed: on
    PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE (migration 0002), and the
    application's role holds only INSERT and SELECT on the table (``audits/sql/app_role.sql``).

    ``seq`` is the position in the chain (1, 2, 3, ... without gaps) and the primary key, so
    that every stored column is covered by ``mac``: ``mac`` is HMAC-SHA256, under a key that
    lives outside the database, of ``prev_mac`` and the canonical encoding of all the other
    columns (``transferdesk.trail.chain``). Whoever can write to the database can still not
    forge, alter, remove or reorder an event without ``verify_audit_chain`` naming it.

    Events hold identifiers and counts, never personal data (``details`` included), so that
    erasing a customer never has to touch, and so never breaks, the trail.
    """

    seq = models.BigIntegerField(_("sequence"), primary_key=True)
    time = models.DateTimeField(_("time"))
    # PROTECT, not SET_NULL: the actor id is covered by the MAC and the row is append-only, so
    # nulling it would be refused by the trigger and would break the chain. People who acted
    # are deactivated, never deleted.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.PROTECT,
        related_name="audit_events",
        null=True,
        blank=True,
    )
    actor_name = models.CharField(
        _("actor name"),
        max_length=150,
        blank=True,
        help_text=_("The actor's username when the event happened; empty for the system."),
    )
    action = models.CharField(_("action"), max_length=40, choices=AuditAction.choices)
    object_type = models.CharField(
        _("object type"), max_length=100, blank=True, help_text=_("app_label.model")
    )
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    # The deal's primary key as text. A plain column, not a foreign key: the trail must outlive
    # a destroyed deal, and a cascading delete or SET_NULL would touch an append-only row. A
    # later issue may add ``deal = ForeignKey(..., db_constraint=False, on_delete=DO_NOTHING)``
    # for joins, keeping this column as the stored value.
    deal_ref = models.CharField(_("deal"), max_length=64, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True)
    details = models.JSONField(
        _("details"),
        default=dict,
        blank=True,
        help_text=_("Ids, counts and codes only; never personal data."),
    )
    prev_mac = models.CharField(_("previous MAC"), max_length=64)
    mac = models.CharField(_("MAC"), max_length=64)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        # Defined in the core, stored as before: the app label (and so the default table,
        # ``audits_auditevent``), the trigger and the migrations stay the audits app's, so an
        # older database keeps working unchanged.
        app_label = "audits"
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [
            # Explorer filters: newest first, narrowed by action, actor, deal or object.
            models.Index(fields=["time"], name="audit_time_idx"),
            models.Index(fields=["action", "time"], name="audit_action_time_idx"),
            models.Index(fields=["actor", "time"], name="audit_actor_time_idx"),
            models.Index(fields=["deal_ref", "time"], name="audit_deal_time_idx"),
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.get_action_display()}"

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> models.Q:
        """People: the compliance officer reads the whole trail (as in the explorer), no one
        else reads it through ``restrict``."""
        # The role by its stored value: the core does not import accounts.
        return models.Q() if user.has_role("compliance") else models.Q(pk__in=[])

    @classmethod
    def restrict_machine_q(cls, principal: Any, action: str) -> models.Q:
        """Keys: their organisation's events (``transferdesk.trail.scoping``)."""
        return machine_event_q(principal, action)
