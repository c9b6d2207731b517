"""The webhooks pages: compliance officers and administrators add endpoints (after a fresh
second factor; the secret is shown once), disable them, list each one's deliveries and their
attempts, and send a delivery again."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.mfa import step_up

from .forms import WebhookEndpointForm
from .webhook_models import WebhookDelivery, WebhookEndpoint
from .webhooks import can_manage_webhooks, delivery_replay, endpoint_create, endpoint_disable

#: Deliveries listed on an endpoint's page (the newest).
DELIVERIES_SHOWN = 50


def _manager(request: HttpRequest) -> None:
    if not can_manage_webhooks(request.user):
        raise PermissionDenied


def _page(request: HttpRequest, form: WebhookEndpointForm, status: int = 200) -> HttpResponse:
    endpoints = WebhookEndpoint.objects.select_related("organization", "created_by")
    return render(
        request, "api/webhooks.html", {"form": form, "endpoints": endpoints}, status=status
    )


@login_required
@require_GET
def webhook_list(request: HttpRequest) -> HttpResponse:
    _manager(request)
    return _page(request, WebhookEndpointForm())


@login_required
@require_POST
@step_up
def webhook_create(request: HttpRequest) -> HttpResponse:
    """Add an endpoint and show its secret, this once (the answer is never cached)."""
    _manager(request)
    form = WebhookEndpointForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        endpoint, secret = endpoint_create(
            actor=request.user,
            organization=form.cleaned_data["organization"],
            url=form.cleaned_data["url"],
            description=form.cleaned_data["description"],
            event_types=form.cleaned_data["event_types"],
        )
    except ValidationError as exc:
        form.add_error(None, exc.messages)
        return _page(request, form, status=400)
    response = render(request, "api/webhook_created.html", {"endpoint": endpoint, "secret": secret})
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def webhook_disable(request: HttpRequest, pk: int) -> HttpResponse:
    _manager(request)
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    if endpoint_disable(actor=request.user, endpoint=endpoint):
        messages.success(request, _("Endpoint disabled: nothing more is sent to it."))
    else:
        messages.info(request, _("This endpoint was already disabled."))
    return redirect("api:webhooks")


@login_required
@require_GET
def webhook_deliveries(request: HttpRequest, pk: int) -> HttpResponse:
    """An endpoint's latest deliveries, each with its attempts."""
    _manager(request)
    endpoint = get_object_or_404(WebhookEndpoint.objects.select_related("organization"), pk=pk)
    deliveries = endpoint.deliveries.prefetch_related("attempts")[:DELIVERIES_SHOWN]
    return render(
        request,
        "api/webhook_deliveries.html",
        {"endpoint": endpoint, "deliveries": deliveries},
    )


@login_required
@require_POST
def webhook_replay(request: HttpRequest, pk: int) -> HttpResponse:
    _manager(request)
    delivery = get_object_or_404(WebhookDelivery.objects.select_related("endpoint"), pk=pk)
    try:
        delivery_replay(actor=request.user, delivery=delivery)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The delivery is being sent again."))
    return redirect("api:webhook_deliveries", delivery.endpoint_id)
