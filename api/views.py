"""The API's endpoints (``/api/v1/``, namespace ``api:``): thin, scoped through ``restrict``.

Every view inherits ``KeyAPIView``'s behaviour: only API keys authenticate
(``api.authentication``), each view names the scope it needs, each key is rate-limited, and
every call made with a key, answered or refused, leaves one audit event (DESIGN.md 6).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from transferdesk.principals import ApiScope, MachinePrincipal
from transferdesk.sessions import mark_passive
from transfers.models import HandoverStage, TransferDeal

from .models import OrganizationAPIKey
from .serializers import DealSerializer
from .services import api_call_record


def path_id(value: str, kind: Callable[[str], Any] = uuid.UUID) -> Any:
    """A path's id as its type, or the API's JSON 404: the URLs take any text (``<str:pk>``)
    so that a malformed id is this 404, never the site's HTML page nor a database error."""
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise NotFound from None


class KeyAPIView(generics.GenericAPIView):
    """The API's base view: records each keyed call in the trail, with the object it
    concerned (``audit_object``, set by views that fetch one)."""

    required_scope: ApiScope | None = None
    #: The object the call concerned, once fetched (its deal goes into the event too).
    audit_object: Any = None
    #: The model of the object a detail URL names (``lookup_field``).
    audit_model: Any = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # A machine request never saves a session (nor extends a person's).
        mark_passive(request._request)
        super().initial(request, *args, **kwargs)

    def finalize_response(
        self, request: Request, response: Any, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        # ``_auth`` is set once authentication ran; reading ``request.auth`` here would run it
        # again for a request that failed before it (and raise).
        key = request.__dict__.get("_auth")
        if isinstance(key, OrganizationAPIKey) and self._records(key, response):
            principal: MachinePrincipal = request.user
            # The object asked for, found or not: a key probing ids outside its scope shows.
            lookup = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
            obj = self.audit_object
            api_call_record(
                principal=principal,
                endpoint=request.resolver_match.view_name if request.resolver_match else "",
                method=request.method or "",
                status=response.status_code,
                object_type=self.audit_model._meta.label_lower if lookup else "",
                object_id=lookup or "",
                deal=obj.pk if isinstance(obj, TransferDeal) else getattr(obj, "deal_id", None),
            )
        return response

    @staticmethod
    def _records(key: OrganizationAPIKey, response: Any) -> bool:
        """Every call is recorded, except that a key over its rate has only its first refusal
        of each wait recorded: otherwise a flood of refused calls would write the trail (whose
        appends every writer queues for) at the flood's pace."""
        if response.status_code != status.HTTP_429_TOO_MANY_REQUESTS:
            return True
        wait = int(response.get("Retry-After") or 1)
        return bool(cache.add(f"api:throttled-recorded:{key.prefix}", True, timeout=wait))


def _deals(principal: Any) -> QuerySet[TransferDeal]:
    """The key's organisation's deals (seller or buyer), with the stages the key may see."""
    stages = HandoverStage.objects.restrict(principal, "view").order_by("order")
    return (
        TransferDeal.objects.restrict(principal, "view")
        .select_related("seller", "buyer")
        .prefetch_related(Prefetch("stages", queryset=stages, to_attr="visible_stages"))
        .order_by("-created_at", "id")
    )


class DealList(KeyAPIView, generics.ListAPIView):
    """The deals of the key's organisation, as seller or buyer, with their stages' status."""

    serializer_class = DealSerializer
    required_scope = ApiScope.STAGES_READ

    def get_queryset(self) -> QuerySet[TransferDeal]:
        return _deals(self.request.user)

    @extend_schema(summary="List deals", description="Needs the scope `stages.read`.")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class DealDetail(KeyAPIView, generics.RetrieveAPIView):
    """One deal of the key's organisation; any other is the 404 of a missing one."""

    serializer_class = DealSerializer
    required_scope = ApiScope.STAGES_READ
    audit_model = TransferDeal

    def get_queryset(self) -> QuerySet[TransferDeal]:
        return _deals(self.request.user)

    def get_object(self) -> TransferDeal:
        deal: TransferDeal = super().get_object()
        self.audit_object = deal
        return deal

    @extend_schema(
        summary="Read a deal",
        description="Needs the scope `stages.read`.",
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
