"""Compliance's single sign-on pages: every organisation's identity provider, and the page that
sets one up, changes or ends it (customers/sso.py)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_http_methods

from accounts.mfa import step_up

from . import sso
from .models import IdentityProvider, Organization


class IdentityProviderForm(forms.Form):
    name = forms.CharField(
        label=_lazy("Name on the sign-in button"),
        max_length=40,
        help_text=_lazy("For example “Contoso sign-in”."),
    )
    server_url = forms.URLField(
        label=_lazy("Issuer URL"),
        max_length=400,
        assume_scheme="https",
        help_text=_lazy(
            "The provider's address; its /.well-known/openid-configuration is read from there."
        ),
    )
    client_id = forms.CharField(label=_lazy("Client ID"), max_length=191)
    client_secret = forms.CharField(
        label=_lazy("Client secret"),
        max_length=191,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_lazy("Leave empty to keep the stored secret."),
    )
    second_factor_acr = forms.CharField(
        label=_lazy("acr values that mean a second factor"),
        max_length=255,
        required=False,
        help_text=_lazy(
            "Optional, separated by spaces. An amr claim naming a second factor (mfa, otp, "
            "hwk, swk…) always counts."
        ),
    )

    def __init__(self, *args: Any, has_secret: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.has_secret = has_secret

    def clean_server_url(self) -> str:
        url = str(self.cleaned_data["server_url"]).rstrip("/")
        if settings.PRODUCTION and not url.startswith("https://"):
            raise forms.ValidationError(_("The issuer URL must start with https://."))
        return url

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.has_secret and not data.get("client_secret"):
            self.add_error("client_secret", _("Give the client secret."))
        return data


def _compliance(request: HttpRequest) -> None:
    if not sso.can_configure(request.user):
        raise PermissionDenied


@login_required
def identity_providers(request: HttpRequest) -> HttpResponse:
    """Compliance's list: every organisation and its single sign-on, if any."""
    _compliance(request)
    links = {
        link.organization_id: link
        for link in IdentityProvider.objects.select_related("app").order_by()
    }
    rows = [(org, links.get(org.pk)) for org in Organization.objects.order_by("legal_name")]
    return render(request, "customers/identity_providers.html", {"rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
@step_up
def identity_provider_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Set an organisation's identity provider up, change it, or end it."""
    _compliance(request)
    organization = get_object_or_404(Organization, slug=slug)
    link = IdentityProvider.objects.select_related("app").filter(organization=organization).first()
    initial = {}
    if link is not None:
        initial = {
            "name": link.app.name,
            "server_url": link.app.settings.get("server_url", ""),
            "client_id": link.app.client_id,
            "second_factor_acr": link.second_factor_acr,
        }
    if request.method == "POST" and request.POST.get("remove") == "1":
        if sso.remove(actor=request.user, organization=organization):
            messages.success(
                request,
                _("%(organisation)s: single sign-on ended.") % {"organisation": organization},
            )
        return redirect("customers:identity_providers")
    form = IdentityProviderForm(request.POST or None, initial=initial, has_secret=link is not None)
    if request.method == "POST" and form.is_valid():
        sso.configure(actor=request.user, organization=organization, **form.cleaned_data)
        messages.success(
            request,
            _("%(organisation)s: its people can now sign in with %(provider)s.")
            % {"organisation": organization, "provider": form.cleaned_data["name"]},
        )
        return redirect("customers:identity_providers")
    provider_id = link.app.provider_id if link is not None else organization.slug
    callback = request.build_absolute_uri(
        reverse("openid_connect_callback", kwargs={"provider_id": provider_id})
    )
    return render(
        request,
        "customers/identity_provider_edit.html",
        {"organization": organization, "link": link, "form": form, "callback": callback},
        status=400 if request.method == "POST" else 200,
    )
