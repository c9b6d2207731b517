"""Data-subject requests from the seller's own website: ``POST /api/v1/requests/``.

A customer who asks the seller's website for access, a correction, an erasure, an objection,
a restriction, or who complains, lands in the same register as one who used their personal
link or wrote to compliance: the endpoint calls ``transfers.requests.request_create``, the
service both pages call (deadline, objection applied at once, the customer told, the
REQUEST_RECEIVED event). The serializer reads types and lengths only; the rules (a correction
names a correctable field and a value, a complaint says what it is about) are the service's,
and its ``ValidationError`` comes back as the JSON of a 400.

The seller signed the person in, not TransferDesk, so the request's identity check starts as
"to be checked", like one received by e-mail.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from customers.choices import OrganizationKind
from customers.models import Customer
from transferdesk.principals import ApiScope, MachinePrincipal
from transfers import requests
from transfers.models import TransferDeal
from transfers.notice_models import DataSubjectRequest, RequestKind, RequestSource

from .views import KeyAPIView


class SubjectRequestIn(serializers.Serializer):
    deal = serializers.UUIDField(help_text="A deal of which the key's organisation is the seller.")
    customer_reference = serializers.CharField(max_length=64)
    kind = serializers.ChoiceField(choices=RequestKind.choices)
    field_name = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="",
        help_text="For a correction: the detail to correct.",
    )  # fmt: skip
    requested_value = serializers.CharField(
        max_length=4000, required=False, allow_blank=True, default="",
        help_text="For a correction: the correct value.",
    )  # fmt: skip
    message = serializers.CharField(
        max_length=4000, required=False, allow_blank=True, default="",
        trim_whitespace=False,
    )  # fmt: skip


class SubjectRequestOut(serializers.ModelSerializer):
    deal = serializers.UUIDField(source="deal_id", read_only=True)

    class Meta:
        model = DataSubjectRequest
        fields = (
            "id", "deal", "kind", "source", "status", "identity_check", "received_at", "due_at",
        )  # fmt: skip
        read_only_fields = fields


class SubjectRequestCreate(KeyAPIView):
    """Registers a data-subject request the seller's website received."""

    required_scope = ApiScope.REQUESTS_WRITE
    serializer_class = SubjectRequestIn

    @extend_schema(
        summary="Register a data-subject request",
        description=(
            "Needs the scope `requests.write` and a seller's key. The deal must be one the "
            "seller is party to (any other is a 404) and the customer one of its book. The "
            "request gets its legal deadline; an objection takes effect at once."
        ),
        request=SubjectRequestIn,
        # 400: the fields the service refused, by name (DRF's validation-error shape).
        responses={201: SubjectRequestOut, 400: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        principal: MachinePrincipal = request.user
        if principal.organization.kind != OrganizationKind.SELLER:
            raise PermissionDenied(_("Only a seller's key registers requests."))
        data = self._read(request.data)
        deal = (
            TransferDeal.objects.restrict(principal, "request")
            .filter(seller_id=principal.organization_id, pk=data["deal"])
            .first()
        )
        if deal is None:
            return Response({"detail": _("No such deal.")}, status=status.HTTP_404_NOT_FOUND)
        self.audit_object = deal
        customer = (
            Customer.objects.restrict(principal, "request")
            .filter(organization_id=deal.seller_id, reference=data["customer_reference"].strip())
            .first()
        )
        if customer is None:
            raise DRFValidationError(
                {"customer_reference": [_("No customer of this deal has this reference.")]}
            )
        try:
            dsr = requests.request_create(
                actor=principal,
                customer=customer,
                deal=deal,
                kind=data["kind"],
                source=RequestSource.WEBSITE,
                field_name=data["field_name"],
                requested_value=data["requested_value"],
                message=data["message"],
            )
        except ValidationError as exc:
            detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            raise DRFValidationError(detail) from None
        return Response(SubjectRequestOut(dsr).data, status=status.HTTP_201_CREATED)

    def _read(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise DRFValidationError({"non_field_errors": [_("The body must be a JSON object.")]})
        serializer = SubjectRequestIn(data=payload)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)
