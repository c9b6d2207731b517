"""Single sign-on with OpenID Connect, per organisation (issue 15).

An organisation (a seller's staff, a buyer's users) may sign its people in through its own
identity provider. Each one is an allauth ``SocialApp`` of allauth's ``openid_connect`` provider
(``provider_id`` = the organisation's short name, the issuer URL in ``settings["server_url"]``),
linked to the organisation by ``IdentityProvider``. Compliance sets it up on a page
(``configure``/``remove``, each an audit event); the admin only shows it.

The mapping rule (``resolve_account``): the identity provider's user is the organisation's one
active account with the same e-mail address, and only if the provider says the address is
verified (``email_verified`` true). Nobody is ever created (sign-up is closed, also for social
accounts), an account of another organisation is never reached, and an account already linked
to another identity at this provider is refused. Every refusal is an audit event and a message
on the sign-in page, never allauth's error page.

A second factor: an ID token whose ``amr`` (RFC 8176) names one (``SSO_SECOND_FACTOR_AMR``), or
whose ``acr`` is one the organisation listed, counts as the second factor of the policy
(``accounts.mfa.record_identity_provider_factor`` leaves allauth's marker); otherwise the person
still gives one here (allauth's code step, or enrolment by the policy middleware).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialLogin
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.choices import Role
from accounts.mfa import record_identity_provider_factor
from transferdesk.trail import AuditAction, record_event

from .models import IdentityProvider, Organization

PROVIDER = "openid_connect"
EMAIL_LIMIT = 254


# --- Configuration (compliance) ----------------------------------------------------------------


def can_configure(user: Any) -> bool:
    return bool(user.is_superuser or user.has_role(Role.COMPLIANCE))


@transaction.atomic
def configure(
    *,
    actor: Any,
    organization: Organization,
    name: str,
    server_url: str,
    client_id: str,
    client_secret: str,
    second_factor_acr: str = "",
) -> IdentityProvider:
    """Set (or change) ``organization``'s identity provider. A blank ``client_secret`` keeps
    the stored one. Recorded without the secret."""
    if not can_configure(actor):
        raise PermissionDenied("only compliance sets up single sign-on")
    link = (
        IdentityProvider.objects.select_for_update()
        .select_related("app")
        .filter(organization=organization)
        .first()
    )
    app = link.app if link else SocialApp(provider=PROVIDER, provider_id=organization.slug)
    app.name = name
    app.client_id = client_id
    if client_secret:
        app.secret = client_secret
    app.settings = {**(app.settings or {}), "server_url": server_url}
    app.save()
    if link is None:
        link = IdentityProvider(organization=organization, app=app)
    link.second_factor_acr = " ".join(second_factor_acr.split())
    link.save()
    record_event(
        action=AuditAction.SSO_CONFIGURED,
        actor=actor,
        obj=organization,
        details={
            "provider_id": app.provider_id,
            "name": name,
            "server_url": server_url,
            "client_id": client_id,
            "secret_changed": bool(client_secret),
            "second_factor_acr": link.second_factor_acr,
        },
    )
    return link


@transaction.atomic
def remove(*, actor: Any, organization: Organization) -> bool:
    """End ``organization``'s single sign-on (its people's links to the provider go too)."""
    if not can_configure(actor):
        raise PermissionDenied("only compliance sets up single sign-on")
    link = IdentityProvider.objects.select_related("app").filter(organization=organization).first()
    if link is None:
        return False
    app = link.app
    link.delete()
    SocialAccount.objects.filter(provider=app.provider_id).delete()
    app.delete()
    record_event(
        action=AuditAction.SSO_CONFIGURED,
        actor=actor,
        obj=organization,
        details={"provider_id": app.provider_id, "removed": True},
    )
    return True


def provider_for(slug: str) -> IdentityProvider | None:
    """The identity provider of the organisation whose short name is ``slug``, if any."""
    slug = slug.strip().lower()[:64]
    if not slug:
        return None
    return (
        IdentityProvider.objects.select_related("app", "organization")
        .filter(organization__slug=slug, app__provider=PROVIDER)
        .first()
    )


# --- The mapping rule ----------------------------------------------------------------------------


@dataclass
class Refusal(Exception):
    """Why an identity provider's user is not signed in (``reason`` is stable, for the trail)."""

    reason: str
    email: str = ""

    def message(self, provider_name: str) -> str:
        if self.reason == "unverified":
            return _(
                "%(provider)s has not verified the e-mail address %(email)s, so it cannot be "
                "matched to a TransferDesk account. Ask your organisation's administrator."
            ) % {"provider": provider_name, "email": self.email}
        if self.reason == "no_email":
            return _(
                "%(provider)s did not tell TransferDesk your e-mail address, so it cannot be "
                "matched to an account."
            ) % {"provider": provider_name}
        return _(
            "You signed in at %(provider)s, but your organisation has no TransferDesk account "
            "for %(email)s. Accounts are opened by invitation: ask your contact at the broker."
        ) % {"provider": provider_name, "email": self.email}


def _claims(extra_data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ID token's claims and the userinfo answer, as allauth's provider keeps them."""
    id_token = extra_data.get("id_token") or {}
    userinfo = extra_data.get("userinfo") or {}
    return (id_token if isinstance(id_token, dict) else {}), (
        userinfo if isinstance(userinfo, dict) else {}
    )


def _verified(value: Any) -> bool:
    # Some providers send the JSON boolean as a string.
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def asserted_email(extra_data: dict[str, Any]) -> tuple[str, bool]:
    """The e-mail address the provider asserts and whether it says it verified it (userinfo
    first, as allauth's provider reads it; the ID token otherwise)."""
    id_token, userinfo = _claims(extra_data)
    source = userinfo if userinfo.get("email") else id_token
    email = str(source.get("email") or "").strip()[:EMAIL_LIMIT]
    return email, _verified(source.get("email_verified"))


def second_factor_asserted(
    extra_data: dict[str, Any], acr_values: frozenset[str] = frozenset()
) -> tuple[bool, list[str], str]:
    """Whether the ID token says the sign-in used a second factor, with its amr and acr."""
    id_token, _userinfo = _claims(extra_data)
    amr = id_token.get("amr") or []
    amr = [str(v) for v in (amr if isinstance(amr, list) else [amr])][:20]
    acr = str(id_token.get("acr") or "")[:255]
    factor = bool(set(amr) & settings.SSO_SECOND_FACTOR_AMR) or (bool(acr) and acr in acr_values)
    return factor, amr, acr


def resolve_account(organization: Organization, extra_data: dict[str, Any]) -> Any:
    """The existing account the provider's user is (the mapping rule), or ``Refusal``."""
    email, verified = asserted_email(extra_data)
    if not email:
        raise Refusal("no_email")
    if not verified:
        raise Refusal("unverified", email)
    matches = list(
        get_user_model()
        ._default_manager.filter(organization=organization, is_active=True, email__iexact=email)
        .order_by("pk")[:2]
    )
    if len(matches) != 1:
        raise Refusal("unknown" if not matches else "ambiguous", email)
    return matches[0]


# --- allauth's hooks ----------------------------------------------------------------------------


def _refuse(request: HttpRequest, message: str, details: dict[str, Any], obj: Any = None) -> None:
    record_event(action=AuditAction.SSO_REFUSED, obj=obj, details=details)
    messages.error(request, message)
    raise ImmediateHttpResponse(HttpResponseRedirect(reverse("accounts:login")))


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """allauth's social sign-in, held to the mapping rule: it only ever signs in an existing
    account of the provider's organisation, and its failures come back to the sign-in page."""

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return False

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        app = sociallogin.account.get_provider(request).app
        link = IdentityProvider.objects.select_related("organization").filter(app_id=app.pk).first()
        details: dict[str, Any] = {"provider_id": app.provider_id}
        if link is None:  # an app not set up through ``configure``: nobody signs in with it
            _refuse(request, _generic_failure(), {**details, "reason": "no_organisation"})
            return
        extra_data = sociallogin.account.extra_data or {}
        try:
            user = resolve_account(link.organization, extra_data)
            if sociallogin.is_existing and sociallogin.user.pk != user.pk:
                raise Refusal("linked_elsewhere", asserted_email(extra_data)[0])
        except Refusal as refusal:
            _refuse(
                request,
                refusal.message(app.name),
                {**details, "reason": refusal.reason, "email": refusal.email},
                obj=link.organization,
            )
            return
        factor, amr, acr = second_factor_asserted(extra_data, link.acr_values)
        if not sociallogin.is_existing:
            # allauth's own step: links this identity at the provider to the account (a
            # SocialAccount), after which allauth signs the account in.
            sociallogin.connect(request, user)
        if factor:
            record_identity_provider_factor(
                request, user, provider=app.provider_id, amr=amr, acr=acr
            )
        record_event(
            action=AuditAction.SSO_SIGN_IN,
            actor=user,
            obj=user,
            details={**details, "second_factor": factor, "amr": amr, "acr": acr},
        )

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: Any = None,
        extra_context: Any = None,
    ) -> None:
        """A cancelled or failed exchange with the provider: back to the sign-in page."""
        provider_id = getattr(getattr(provider, "app", None), "provider_id", "")
        _refuse(
            request,
            _generic_failure(),
            {"provider_id": provider_id, "reason": f"error:{error or 'unknown'}"[:64]},
        )


def _generic_failure() -> str:
    return _(
        "Signing in with your organisation did not complete. Try again, or sign in with your "
        "username and password."
    )


# --- The sign-in page's CSP ---


class ProviderFormActionMiddleware:
    """Lets the sign-in page's "Sign in with <provider>" form (``?organisation=``), and allauth's
    "continue to the provider" page, lead to the organisation's identity provider: a browser
    blocks a form whose POST is redirected to another origin unless the page's CSP
    ``form-action`` names it. Only that origin, only on those pages (django-csp's
    per-response ``_csp_update``). Sits inside django-csp's middleware."""

    PAGES = frozenset({"accounts:login", "account_login", "openid_connect_login"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = request.resolver_match
        if match is None or match.view_name not in self.PAGES:
            return response
        if "provider_id" in match.kwargs:
            link = (
                IdentityProvider.objects.select_related("app")
                .filter(app__provider_id=str(match.kwargs["provider_id"]))
                .first()
            )
        else:
            link = provider_for(str(request.GET.get("organisation", "")))
        origin = _origin(str(link.app.settings.get("server_url", ""))) if link else ""
        if origin:
            response._csp_update = {"form-action": [origin]}  # type: ignore[attr-defined]
        return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme in {"http", "https"} and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return ""
