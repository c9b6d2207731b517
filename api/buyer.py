"""The buyer's side of the API: what the buyer portal offers a person, offered to the buyer's
system (its key), through the portal's own selectors and services.

A stage is reached through ``restrict(key, "portal")``: a delivered or acknowledged stage of a
deal whose buyer is the key's organisation (``transfers.models.machine_deal_q``); anything
else, the seller's key included, is the 404 of a missing stage. The portal's gates apply as
they are: a cancelled deal or a destroyed deal key ends access (410, the portal's "access
ended"), and the deal's current NDA must have been accepted in the portal by a person of the
buyer's organisation (403), since a key cannot accept an agreement.

Items are decrypted with the deal key and kept to the stage's scope by the portal's
``shown`` (the same fields the page and the export carry); each page read is the portal's
``PORTAL_VIEW`` event naming the items and the fields read. Acknowledgements and attestations
are the portal's services, which record that a key (by its prefix) did it.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import APIException, NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from customers.models import Customer
from transferdesk.principals import ApiScope
from transferdesk.trail import AuditAction, record_event
from transfers import portal_selectors as sel
from transfers import portal_services as svc
from transfers import receipts
from transfers.choices import StageKind
from transfers.engine import snapshot_fields
from transfers.models import HandoverStage, NdaAcceptance, TransferDeal
from transfers.portal_models import Answer, FollowUpTask, Question
from transfers.services import TransitionRefused, current_nda

from .pagination import Cursor
from .views import KeyAPIView, path_id


class AccessEnded(APIException):
    status_code = status.HTTP_410_GONE
    default_detail = gettext_lazy("This deal was cancelled. Its data room is closed.")
    default_code = "access_ended"


class ItemCursor(Cursor):
    """Items in id order: the order they were stored in, unique, so the cursor is stable."""

    ordering = ("id",)  # type: ignore[assignment]


# --- representations -------------------------------------------------------------------------


class ItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    label = serializers.CharField(
        help_text="The seller's reference (identified stages) or the keyed pseudonym."
    )
    fields = serializers.DictField(
        child=serializers.JSONField(allow_null=True),
        help_text="The record's in-scope fields, by name (see the stage's dictionary): stored "
        "values, choice fields as their codes.",
    )


class ChoiceSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()


class FieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    tier = serializers.CharField(help_text="general, sensitive or special")
    description = serializers.CharField(allow_blank=True)
    choices = ChoiceSerializer(many=True)


class DictionarySerializer(serializers.Serializer):
    stage = serializers.UUIDField()
    kind = serializers.CharField()
    label = serializers.CharField(help_text="What an item's `label` is.")
    fields = FieldSerializer(many=True)


class ManifestSerializer(serializers.Serializer):
    """The portal's machine-readable receipt (``manifest.json``)."""

    manifest = serializers.JSONField(help_text="The signed manifest body.")
    items = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="[name, digest] pairs in the order of the Merkle leaves.",
    )
    signature = serializers.CharField()
    public_key = serializers.CharField()
    key_fingerprint = serializers.CharField()
    withdrawals = serializers.JSONField(help_text="Records withdrawn since delivery, signed.")


class AcknowledgeInput(serializers.Serializer):
    merkle_root = serializers.CharField(max_length=200, help_text="The root you verified.")


class AcknowledgementSerializer(serializers.Serializer):
    stage = serializers.UUIDField(source="stage_id")
    merkle_root = serializers.CharField()
    acknowledged_at = serializers.DateTimeField()
    api_key = serializers.CharField(help_text="The prefix of the key that acknowledged.")


class FollowUpSerializer(serializers.ModelSerializer):
    stage = serializers.UUIDField(source="item.stage_id", read_only=True)
    attested_by = serializers.SerializerMethodField(
        help_text="Who attested: a person's name, or `api-key:<prefix>`."
    )

    class Meta:
        model = FollowUpTask
        fields = (
            "id", "deal", "stage", "item", "kind", "reason", "status", "due_at", "created_at",
            "attested_at", "attestation", "attested_by",
        )  # fmt: skip
        read_only_fields = fields

    def get_attested_by(self, task: FollowUpTask) -> str | None:
        if task.attested_by_id:
            return str(task.attested_by.display_name)  # type: ignore[union-attr]
        return f"api-key:{task.attested_by_key}" if task.attested_by_key else None


class AttestInput(serializers.Serializer):
    attestation = serializers.CharField(max_length=2000, help_text="What was done with the record.")


class Problem(serializers.Serializer):
    detail = serializers.CharField()


# --- the gates -------------------------------------------------------------------------------


def buyer_stages(principal: Any) -> QuerySet[HandoverStage]:
    """The stages handed over to the key's organisation (``restrict(key, "portal")``)."""
    return HandoverStage.objects.restrict(principal, "portal").select_related(
        "deal", "deal__data_key", "manifest"
    )


def deal_gate(principal: Any, deal: Any) -> None:
    """The portal's gates, for a key: access not ended, the current NDA accepted by a person
    of the buyer's organisation."""
    if sel.access_ended(deal):
        if deal.data_key.destroyed_at is not None:
            raise AccessEnded(
                _("The data of this deal has been destroyed; nothing of it can be shown any more.")
            )
        raise AccessEnded()
    nda = current_nda(deal)
    accepted = (
        nda is not None
        and NdaAcceptance.objects.filter(
            nda=nda, user__organization_id=principal.organization_id
        ).exists()
    )
    if not accepted:
        raise PermissionDenied(
            _(
                "No one of your organisation has accepted this deal's current NDA. Accept it in "
                "the buyer portal first."
            )
        )


class BuyerStageView(KeyAPIView):
    required_scope = ApiScope.STAGES_READ
    audit_model = HandoverStage
    lookup_url_kwarg = "pk"

    def stage(self) -> HandoverStage:
        if not hasattr(self, "_stage"):
            stage = buyer_stages(self.request.user).filter(pk=path_id(self.kwargs["pk"])).first()
            if stage is None:
                raise NotFound
            self.audit_object = stage
            deal_gate(self.request.user, stage.deal)
            self._stage = stage
        return self._stage

    def view_event(self, stage: HandoverStage, **details: Any) -> None:
        """The portal's read event (``_portal_event``), by the key."""
        record_event(
            action=AuditAction.PORTAL_VIEW,
            actor=self.request.user,
            obj=stage,
            deal=stage.deal_id,
            details={**details, "via": "api"},
        )


# --- stages ----------------------------------------------------------------------------------


class StageItems(BuyerStageView, generics.ListAPIView):
    serializer_class = ItemSerializer
    pagination_class = ItemCursor

    def get_queryset(self) -> Any:
        stage = self.stage()
        if stage.kind == StageKind.AGGREGATE:
            raise NotFound(_("An aggregate stage has statistics, not records."))
        return sel.stage_items(stage)

    @extend_schema(
        summary="List a delivered stage's records",
        description="Needs the scope `stages.read` and a buyer's key. The records decrypted, "
        "in the stage's scope only, in id order; each page is an audit event naming the "
        "records and fields read. Records withdrawn since delivery are left out.",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        stage = self.stage()
        page = self.paginate_queryset(self.get_queryset())
        key = stage.deal.data_key.unwrap()
        rows = [sel.shown(stage, item, key) for item in page or []]
        self.view_event(
            stage, view="items", items=[row.pk for row in rows], fields=snapshot_fields(stage)
        )
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)


def _choices(name: str) -> list[dict[str, str]]:
    field = Customer._meta.get_field(name)
    return [
        {"value": str(value), "label": str(label)}
        for value, label in (getattr(field, "flatchoices", None) or [])
        if value not in (None, "")
    ]


def _description(name: str) -> str:
    return str(getattr(Customer._meta.get_field(name), "help_text", "") or "")


class StageDictionary(BuyerStageView):
    serializer_class = DictionarySerializer

    @extend_schema(
        summary="Read a delivered stage's data dictionary",
        description="Needs the scope `stages.read` and a buyer's key. The fields the stage's "
        "records carry (the columns of the portal's export), with their meaning and tier.",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        stage = self.stage()
        body = {
            "stage": stage.pk,
            "kind": stage.kind,
            "label": _("Pseudonym") if stage.kind == StageKind.PSEUDONYMISED else _("Reference"),
            "fields": [
                {
                    "name": name,
                    "label": sel.field_label(name),
                    "tier": sel.field_tier(name),
                    "description": _description(name),
                    "choices": _choices(name),
                }
                for name in snapshot_fields(stage)
            ],
        }
        return Response(self.get_serializer(body).data)


class StageManifest(BuyerStageView):
    serializer_class = ManifestSerializer

    @extend_schema(
        summary="Download a delivered stage's signed manifest",
        description="Needs the scope `stages.read` and a buyer's key. The portal's "
        "`manifest.json`: the signed manifest, the item digests, the signature and the "
        "deal's public key, to verify offline before acknowledging.",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        stage = self.stage()
        self.view_event(stage, view="manifest")
        return Response(receipts.manifest_bundle(stage))


class StageAcknowledge(BuyerStageView):
    serializer_class = AcknowledgeInput

    @extend_schema(
        summary="Acknowledge receipt of a delivered stage",
        description="Needs the scope `stages.read` and a buyer's key. The root must be the "
        "signed manifest's (400 otherwise, recorded in the trail); a stage acknowledged "
        "already is a 409.",
        responses={
            201: AcknowledgementSerializer,
            400: OpenApiResponse(description="A missing, or wrong, root."),
            409: Problem,
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        stage = self.stage()
        given = AcknowledgeInput(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            ack = svc.stage_acknowledge(
                stage=stage, actor=request.user, merkle_root=given.validated_data["merkle_root"]
            )
        except TransitionRefused as refused:
            return Response({"detail": " ".join(refused.messages)}, status=409)
        except ValidationError as error:
            return Response(error.message_dict, status=400)
        return Response(AcknowledgementSerializer(ack).data, status=201)


# --- follow-up tasks -------------------------------------------------------------------------


def buyer_tasks(principal: Any) -> QuerySet[FollowUpTask]:
    return FollowUpTask.objects.restrict(principal, "portal").select_related(
        "item", "attested_by", "deal", "deal__data_key"
    )


class FollowUpList(KeyAPIView, generics.ListAPIView):
    serializer_class = FollowUpSerializer
    required_scope = ApiScope.FOLLOWUPS_WRITE

    def get_queryset(self) -> QuerySet[FollowUpTask]:
        return buyer_tasks(self.request.user)

    @extend_schema(
        summary="List follow-up tasks",
        description="Needs the scope `followups.write` and a buyer's key. What the buyer "
        "must update or delete in its own systems, by when (GDPR art. 19), newest first.",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class FollowUpAttest(KeyAPIView):
    serializer_class = AttestInput
    required_scope = ApiScope.FOLLOWUPS_WRITE
    audit_model = FollowUpTask

    @extend_schema(
        summary="Attest a follow-up task",
        description="Needs the scope `followups.write` and a buyer's key. Closes the task "
        "with the statement; a task completed already is a 409.",
        responses={201: FollowUpSerializer, 400: OpenApiResponse(), 409: Problem},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        task = buyer_tasks(request.user).filter(pk=path_id(kwargs["pk"], int)).first()
        if task is None:
            raise NotFound
        self.audit_object = task
        deal_gate(request.user, task.deal)
        given = AttestInput(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            task = svc.followup_attest(
                task=task, actor=request.user, statement=given.validated_data["attestation"]
            )
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                return Response(error.message_dict, status=400)
            return Response({"detail": " ".join(error.messages)}, status=409)
        return Response(FollowUpSerializer(task).data, status=201)


# --- questions -------------------------------------------------------------------------------


class AnswerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    body = serializers.CharField()
    answered_at = serializers.DateTimeField()
    from_buyer = serializers.BooleanField(help_text="A buyer's further message, not an answer.")
    author = serializers.CharField(source="author.display_name")


class QuestionSerializer(serializers.ModelSerializer):
    asked_by = serializers.CharField(
        source="asker", help_text="Who asked: a person's name, or `API key <prefix>`."
    )
    answers = AnswerSerializer(many=True, source="answers.all")

    class Meta:
        model = Question
        fields = (
            "id", "deal", "stage", "item", "subject", "body", "status", "asked_at", "asked_by",
            "answers",
        )  # fmt: skip
        read_only_fields = fields


class QuestionInput(serializers.Serializer):
    """The portal's question form: a stage handed over, optionally one record of it."""

    stage = serializers.UUIDField()
    item = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    subject = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=4000)


class QuestionCursor(Cursor):
    ordering = ("-asked_at", "id")


class DealQuestions(KeyAPIView, generics.ListAPIView):
    serializer_class = QuestionSerializer
    pagination_class = QuestionCursor
    required_scope = ApiScope.STAGES_READ
    audit_model = TransferDeal

    def deal(self) -> TransferDeal:
        if not hasattr(self, "_deal"):
            deal = (
                TransferDeal.objects.restrict(self.request.user, "portal")
                .select_related("data_key")
                .filter(pk=path_id(self.kwargs["pk"]))
                .first()
            )
            if deal is None:
                raise NotFound
            self.audit_object = deal
            deal_gate(self.request.user, deal)
            self._deal = deal
        return self._deal

    def get_queryset(self) -> QuerySet[Question]:
        questions: QuerySet[Question] = Question.objects.restrict(self.request.user, "portal")
        return (
            questions.filter(deal=self.deal())
            .select_related("asked_by")
            .prefetch_related(Prefetch("answers", queryset=Answer.objects.select_related("author")))
        )

    @extend_schema(
        summary="List a deal's questions",
        description="Needs the scope `stages.read` and the deal's buyer's key. The buyer's "
        "questions on the deal with their answers, newest first.",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Ask a question about a delivered stage",
        description="Needs the scope `stages.read` and the deal's buyer's key. The deal's "
        "brokers are told, as for a question asked in the portal.",
        request=QuestionInput,
        responses={201: QuestionSerializer, 400: OpenApiResponse()},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        deal = self.deal()
        given = QuestionInput(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        stage = buyer_stages(request.user).filter(pk=data["stage"], deal=deal).first()
        if stage is None:
            return Response({"stage": [_("Choose a stage handed over to you.")]}, status=400)
        item = None
        if data.get("item"):
            item = sel.stage_items(stage).filter(pk=data["item"]).first()
            if item is None:
                return Response({"item": [_("This record is not part of the stage.")]}, status=400)
        try:
            question = svc.question_ask(
                actor=request.user,
                stage=stage,
                item=item,
                subject=data["subject"],
                body=data["body"],
            )
        except ValidationError as error:
            return Response(
                error.message_dict if hasattr(error, "error_dict") else {"detail": error.messages},
                status=400,
            )
        question = self.get_queryset().get(pk=question.pk)
        return Response(QuestionSerializer(question).data, status=201)
