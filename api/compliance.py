"""The compliance side of the API (scope ``events.read``): the audit events a key's organisation
may read, and how the chain's last verification went.

Which events a key reads is ``AuditEvent.restrict_machine_q`` (``transferdesk.trail.scoping``):
its organisation's own people's events, its own keys' events, and, for a seller, every event of
the deals it sells. The filters are the compliance explorer's own form (``EventFilterForm``), so
a value the explorer refuses is refused here, with a 400 naming the parameter.

Each event carries its chain fields (``seq``, ``prev_mac``, ``mac``): a client keeps the ones it
saw and compares them with the heads printed on receipts and reports, and with later answers
(an event never changes). The MAC itself is keyed with a secret that never leaves the server, so
recomputing it is the server's verification (``GET /api/v1/verification/``), not the client's.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from audits.forms import EventFilterForm
from audits.models import ChainVerificationRun
from audits.models.backups import RunStatus
from transferdesk.principals import ApiScope
from transferdesk.trail import AuditAction, AuditEvent, chain_head

from .pagination import Cursor
from .views import KeyAPIView

#: The largest ``seq`` a query may name (the column is a 64-bit integer).
MAX_SEQ = 2**63 - 1


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(
        source="actor_name",
        help_text="Who acted: a username, `api-key:<prefix>@<organisation>`, or empty for the "
        "system.",
    )
    deal = serializers.CharField(source="deal_ref", help_text="The deal's id, or empty.")
    details = serializers.DictField(help_text="Ids, counts and codes only; never personal data.")

    class Meta:
        model = AuditEvent
        fields = (
            "seq", "time", "action", "actor", "object_type", "object_id", "deal",
            "request_id", "details", "prev_mac", "mac",
        )  # fmt: skip
        read_only_fields = fields


class EventFilters(EventFilterForm):
    """The explorer's filters, plus ``after`` (events past a position: how a client that keeps
    the last ``seq`` it read asks for what came since)."""

    after = forms.IntegerField(required=False, min_value=0, max_value=MAX_SEQ)


class EventCursor(Cursor):
    """Oldest first by position: ``seq`` never changes and only grows, so pages are stable
    while events are appended."""

    ordering = ("seq",)  # type: ignore[assignment]  # one column: seq is unique


FILTER_PARAMETERS = [
    OpenApiParameter("action", str, enum=AuditAction.values, description="One action."),
    OpenApiParameter("object_type", str, description="`app_label.model`."),
    OpenApiParameter("object_id", str, description="The object's id."),
    OpenApiParameter("actor", str, description="A username, or the name an API key acts by."),
    OpenApiParameter("deal", str, description="A deal's reference."),
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="First day (inclusive)."),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="Last day (inclusive)."),
    OpenApiParameter(
        "after", OpenApiTypes.INT64, description="Only events past this position (`seq`)."
    ),
]  # fmt: skip


class EventList(KeyAPIView):
    """The audit events the key's organisation may read, oldest first, filtered."""

    serializer_class = EventSerializer
    pagination_class = EventCursor
    required_scope = ApiScope.EVENTS_READ
    error_statuses = (400,)

    def get_queryset(self) -> QuerySet[AuditEvent]:
        return AuditEvent.objects.restrict(self.request.user, "view")

    @extend_schema(
        summary="List audit events",
        description="Needs the scope `events.read`. A bad filter value is a 400 naming it.",
        parameters=FILTER_PARAMETERS,
        responses=EventSerializer(many=True),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        fields = (*EventFilters.base_fields, "after")
        form = EventFilters({k: v for k, v in request.query_params.items() if k in fields})
        if not form.is_valid():
            errors = {name: [str(m) for m in messages] for name, messages in form.errors.items()}
            return Response(
                {"detail": _("A filter value is not valid."), "errors": errors}, status=400
            )
        events = form.filter(self.get_queryset())
        if form.cleaned_data.get("after") is not None:
            events = events.filter(seq__gt=form.cleaned_data["after"])
        page = self.paginate_queryset(events)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class RunSerializer(serializers.ModelSerializer):
    result = serializers.SerializerMethodField(
        help_text="`intact`: the whole chain verified; `broken`: an event was altered, removed "
        "or inserted (`first_bad_seq`, `problem`); `error`: the run could not finish; "
        "`running`."
    )

    class Meta:
        model = ChainVerificationRun
        fields = (
            "id", "trigger", "started_at", "finished_at", "result", "events", "head_seq",
            "head_mac", "first_bad_seq", "problem",
        )  # fmt: skip
        read_only_fields = fields

    def get_result(self, run: ChainVerificationRun) -> str:
        if run.status == RunStatus.RUNNING:
            return "running"
        if run.status == RunStatus.SUCCEEDED:
            return "intact"
        return "broken" if run.problem else "error"


class HeadSerializer(serializers.Serializer):
    events = serializers.IntegerField()
    seq = serializers.IntegerField()
    mac = serializers.CharField()


class VerificationSerializer(serializers.Serializer):
    last_run = RunSerializer(
        allow_null=True, help_text="The last finished verification, or null if none ran yet."
    )
    head = HeadSerializer(help_text="The chain's head now.")


class Verification(KeyAPIView):
    """How the audit chain's last verification went, and the chain's head now."""

    serializer_class = VerificationSerializer
    pagination_class = None
    required_scope = ApiScope.EVENTS_READ

    def get_queryset(self) -> QuerySet[ChainVerificationRun]:
        return ChainVerificationRun.objects.restrict(self.request.user, "view")

    @extend_schema(summary="Audit chain verification", description="Needs the scope `events.read`.")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        run = self.get_queryset().filter(finished_at__isnull=False).order_by("-finished_at").first()
        head = chain_head()
        data = {"last_run": run, "head": head._asdict()}
        return Response(self.get_serializer(data).data)
