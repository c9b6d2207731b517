"""Strong sign-in (cross-cutting): who must use a second factor, the step-up for dangerous
actions, and the glue between allauth's sign-in and the rest of the product.

- ``second_factor_required``: the policy. Brokers, compliance officers, administrators and
  anyone without a buyer role must use one; a buyer organisation's compliance setting decides
  for its users (default: required).
- ``SecondFactorPolicyMiddleware``: a signed-in person the policy covers whose session did not
  pass a second factor is led to enrolment (no factor yet) or to the factor's page, with a
  message, before any other page.
- ``step_up``: the view decorator for revealing, exporting, approving, destroying and rotating:
  the session's latest second factor must be younger than ``STEP_UP_MAX_AGE``, or the page asks
  for it (allauth's re-authentication page) and then comes back to the action (a POST is
  replayed by allauth once the factor is given).
- ``AuthenticateForm``: allauth's second-factor form, refusing while django-axes has the
  account locked (a wrong code counts as a failed sign-in, see ``accounts.signals``).
- ``record_identity_provider_factor`` and ``AuthenticateStage``: an organisation's identity
  provider that asserts a multi-factor sign-in (customers/sso.py reads its ``amr``/``acr``)
  leaves the same marker as a factor given here (an ``mfa`` authentication record, type
  ``idp``), so the policy, the step-up and allauth's sign-in stage count it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import quote

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import (
    get_authentication_records,
    record_authentication,
)
from allauth.account.internal.flows.reauthentication import suspend_request
from allauth.core import context
from allauth.mfa.base.forms import AuthenticateForm as AllauthAuthenticateForm
from allauth.mfa.models import Authenticator
from allauth.mfa.stages import AuthenticateStage as AllauthAuthenticateStage
from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from customers.choices import OrganizationKind
from transferdesk.clientip import client_ip
from transferdesk.jobs import enqueue
from transferdesk.public_url import public_url
from transferdesk.sessions import mark_passive

from .choices import Role

#: Paths a person without a passed second factor may still open: the sign-in and factor pages
#: themselves, signing out, the language switcher, static files and the health probes.
OPEN_PREFIXES = (
    "/accounts/login/",
    "/accounts/logout/",
    "/accounts/2fa/",
    "/accounts/reauthenticate/",
    "/accounts/password/reset/",
    "/accounts/inactive/",
    "/invite/",
    "/i18n/",
    "/static/",
    "/healthz",
    "/readyz",
    "/favicon",
)


def second_factor_required(user: Any) -> bool:
    """Whether ``user`` must sign in with a second factor (the policy of issue 15)."""
    if user.is_superuser or user.is_staff:
        return True
    roles = user.role_names
    if Role.BROKER in roles or Role.COMPLIANCE in roles or Role.BUYER not in roles:
        return True
    organization = user.organization
    if organization is None or organization.kind != OrganizationKind.BUYER:
        return True
    return bool(organization.second_factor_required)


def has_factor(user: Any) -> bool:
    """A TOTP app or a passkey enrolled (recovery codes alone are not a factor)."""
    return (
        Authenticator.objects.filter(user=user)
        .exclude(type=Authenticator.Type.RECOVERY_CODES)
        .exists()
    )


def last_factor_at(request: HttpRequest) -> float | None:
    """When this session last passed a second factor (allauth's authentication records), as a
    POSIX time, or None."""
    records = get_authentication_records(request, request.user)  # type: ignore[arg-type]
    times = [r["at"] for r in records if r.get("method") == "mfa" and "at" in r]
    return max(times) if times else None


def factor_is_fresh(request: HttpRequest) -> bool:
    at = last_factor_at(request)
    return at is not None and time.time() - at < settings.STEP_UP_MAX_AGE.total_seconds()


def _with_next(url: str, next_url: str) -> str:
    return f"{url}?{urlencode({'next': next_url})}"


class SecondFactorPolicyMiddleware:
    """Leads a signed-in person whom the policy covers, and whose session has not passed a
    second factor, to enrolment (no factor yet) or to entering the factor (signed in another
    way, e.g. through an invitation), then back to the page they asked for."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        redirect = self._redirect(request)
        return redirect or self.get_response(request)

    def _redirect(self, request: HttpRequest) -> HttpResponse | None:
        user = request.user
        if not user.is_authenticated or request.path.startswith(OPEN_PREFIXES):
            return None
        if last_factor_at(request) is not None or not second_factor_required(user):
            return None
        if request.headers.get("HX-Request"):
            # A fragment the page fetches by itself (the bell's poll, my work on the landing
            # page): nothing to show yet, and no message or redirect that would land in the
            # fragment, use up the page's message, or write a session the page is replacing.
            mark_passive(request)
            return HttpResponse(status=204)
        next_url = request.get_full_path() if request.method == "GET" else reverse("home")
        if has_factor(user):
            return HttpResponseRedirect(_with_next(reverse("mfa_reauthenticate"), next_url))
        messages.info(
            request,
            _(
                "Your account needs a second factor before it can open customer data: add a "
                "passkey or an authenticator app."
            ),
        )
        return HttpResponseRedirect(reverse("mfa_index"))


def step_up(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The view needs a second factor given within ``STEP_UP_MAX_AGE``; otherwise the person is
    sent to give it and comes back: a GET to the same page, a POST replayed by allauth with its
    form data (``suspend_request``). Put it inside ``login_required``."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and not factor_is_fresh(request):
            if not has_factor(request.user):
                messages.info(request, _("This action needs a second factor: add one first."))
                return HttpResponseRedirect(reverse("mfa_index"))
            messages.info(request, _("Confirm it is you: give your second factor again."))
            return suspend_request(request, reverse("mfa_reauthenticate"))
        return view(request, *args, **kwargs)

    return wrapper


def step_up_to_change(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """``step_up`` for a page's POSTs only: a page anyone signed in may look at, whose changes
    need the factor again (one's sessions: seen freely, signed out with the factor)."""
    guarded = step_up(view)

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return (guarded if request.method == "POST" else view)(request, *args, **kwargs)

    return wrapper


#: The ``type`` of the ``mfa`` authentication record of a factor given at an identity provider.
IDP_FACTOR = "idp"


def record_identity_provider_factor(
    request: HttpRequest, user: Any, *, provider: str, amr: list[str], acr: str
) -> None:
    """Record that ``user``'s sign-in through ``provider`` (an OpenID Connect provider that
    asserted a multi-factor sign-in) passed a second factor: the marker allauth leaves for a
    TOTP code or a passkey, so ``last_factor_at`` (policy, step-up) sees it."""
    record_authentication(
        request, user, "mfa", type=IDP_FACTOR, provider=provider, amr=amr, acr=acr
    )


def passed_factor_at_identity_provider(request: HttpRequest, user: Any) -> bool:
    return any(
        r.get("method") == "mfa" and r.get("type") == IDP_FACTOR
        for r in get_authentication_records(request, user)
    )


class AuthenticateStage(AllauthAuthenticateStage):
    """allauth's "enter your code" step of a sign-in, skipped when the identity provider of a
    single sign-on already asserted a second factor."""

    def _should_handle(self, request: HttpRequest) -> bool:
        if self.login.user is not None and passed_factor_at_identity_provider(
            request, self.login.user
        ):
            return False
        return bool(super()._should_handle(request))


class AccountAdapter(DefaultAccountAdapter):
    """Accounts come from invitations: nobody signs up. The client's address is the one the
    rest of the product uses (``transferdesk.clientip``: the trusted proxies' header), for
    allauth's rate limits. Password-reset e-mails are sent by a task, with a link on the site's
    public address (accounts/password_reset.py)."""

    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "username_password_mismatch": _lazy(
            "That username and password do not match. After five failed attempts the "
            "account is locked for a while."
        ),
    }

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def get_client_ip(self, request: HttpRequest) -> str:
        """The address allauth stores (the sessions page) and rate-limits by: the project's
        trusted-proxy rule, never a forwarded header from an untrusted peer."""
        ip = client_ip(request)
        if ip is None:
            raise PermissionDenied("Unable to determine client IP address")
        return ip

    def get_login_stages(self) -> list[str]:
        """allauth's stages, its second-factor step replaced by ``AuthenticateStage``."""
        allauth_stage = f"{AllauthAuthenticateStage.__module__}.AuthenticateStage"
        ours = f"{AuthenticateStage.__module__}.AuthenticateStage"
        return [ours if path == allauth_stage else path for path in super().get_login_stages()]

    def is_reauthentication_required(self, *, app: str, **kwargs: Any) -> bool:
        """Managing one's factors (allauth.mfa) needs a second factor given within
        ``STEP_UP_MAX_AGE``, as the other dangerous actions do; the very first factor, only a
        recent sign-in."""
        request = context.request
        user = getattr(request, "user", None)
        if app == "allauth.mfa" and user is not None and user.is_authenticated:
            if factor_is_fresh(request):
                return False
            records = get_authentication_records(request, user)
            signed_in_at = max((r.get("at", 0) for r in records), default=0)
            recent = time.time() - signed_in_at < settings.STEP_UP_MAX_AGE.total_seconds()
            if recent and not has_factor(user):
                return False
        return super().is_reauthentication_required(app=app, **kwargs)

    def get_reset_password_from_key_url(self, key: str) -> str:
        path = reverse("account_reset_password_from_key", kwargs={"uidb36": "UID", "key": "KEY"})
        return public_url(path.replace("UID-KEY", quote(key)))

    def send_password_reset_mail(self, user: Any, email: str, context: dict[str, Any]) -> None:
        """allauth made a token and a link in the request: a task makes its own instead and
        sends the e-mail (accounts/password_reset.py), in the account's language."""
        enqueue("accounts.tasks.password_reset_email", user.pk)


class AuthenticateForm(AllauthAuthenticateForm):
    """allauth's second-factor step of the sign-in, refused while the account is locked out
    (django-axes, per username and address, as for the password)."""

    def clean_code(self) -> str:
        request = context.request
        credentials = {"username": self.user.username}
        if AxesProxyHandler.is_locked(request, credentials):
            request.axes_locked_out = True
            request.axes_credentials = credentials
            raise forms.ValidationError(_("This account is locked for a while."))
        return str(super().clean_code())
