"""The API keys pages: compliance officers and administrators issue (after a fresh second
factor), list and revoke the organisations' keys. The key is shown once, in the answer to the
form that created it, and never stored."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.mfa import step_up

from .forms import ApiKeyForm
from .models import OrganizationAPIKey
from .services import api_key_create, api_key_revoke, can_manage_keys


def _manager(request: HttpRequest) -> Any:
    if not can_manage_keys(request.user):
        raise PermissionDenied
    return request.user


def _page(request: HttpRequest, form: ApiKeyForm, status: int = 200) -> HttpResponse:
    keys = OrganizationAPIKey.objects.select_related(
        "organization", "created_by", "revoked_by"
    ).order_by("revoked", "-created")
    return render(request, "api/keys.html", {"form": form, "keys": keys}, status=status)


@login_required
@require_GET
def key_list(request: HttpRequest) -> HttpResponse:
    """Every key: prefix, organisation, scopes, who created it, when it was last used."""
    _manager(request)
    return _page(request, ApiKeyForm())


@login_required
@require_POST
@step_up
def key_create(request: HttpRequest) -> HttpResponse:
    """Issue a key and show it, this once (the answer is never cached)."""
    actor = _manager(request)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        key, plaintext = api_key_create(
            actor=actor,
            organization=form.cleaned_data["organization"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
        )
    except ValidationError as exc:
        form.add_error(None, exc.messages)
        return _page(request, form, status=400)
    response = render(request, "api/key_created.html", {"key": key, "plaintext": plaintext})
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def key_revoke(request: HttpRequest, prefix: str) -> HttpResponse:
    actor = _manager(request)
    key = get_object_or_404(OrganizationAPIKey, prefix=prefix)
    if api_key_revoke(actor=actor, key=key):
        messages.success(
            request, _("Key {prefix} revoked: its next call is refused.").format(prefix=prefix)
        )
    else:
        messages.info(request, _("This key was already revoked."))
    return redirect("api:keys")
