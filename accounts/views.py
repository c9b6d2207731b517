"""Account pages that are not Django's own: the language switcher that remembers the choice,
and invitations (the staff invitation page, revoking, and the invited person's page)."""

from __future__ import annotations

import uuid
from typing import Any

from allauth.account.internal.flows.login import record_authentication
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST
from django.views.i18n import LANGUAGE_QUERY_PARAMETER
from django.views.i18n import set_language as django_set_language

from customers.choices import OrganizationKind
from customers.models import Organization
from transferdesk.clientip import client_ip

from . import services
from .choices import Role
from .forms import InvitationAcceptForm, InvitationForm
from .models import Invitation
from .services import user_set_language


@require_POST
@csrf_protect
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's ``set_language`` (same form fields, same cookie), plus, for a signed-in user,
    the choice stored on their row so that jobs and e-mails made for them use it too."""
    response = django_set_language(request)
    if request.user.is_authenticated:
        user_set_language(
            user=request.user,  # type: ignore[arg-type]
            language=request.POST.get(LANGUAGE_QUERY_PARAMETER, ""),
        )
    return response


# --- invitations ----------------------------------------------------------------------------


def _limited(request: HttpRequest) -> bool:
    """True once the address went over its hourly budget of invitation-page requests (the
    cache-based limiter of the customer links): guessing tokens costs the guesser, not us. The
    address is the client's by the trusted-proxy rule: behind the proxy, everyone would be one."""
    ip = client_ip(request) or "unknown"
    key = f"invite:rl:ip:{ip}"
    cache.add(key, 0, timeout=3600)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3600)
        count = 1
    return count > getattr(settings, "INVITATION_RATE_LIMIT_PER_ADDRESS", 60)


#: Why a link cannot be used → the status of the page that says so.
INVALID_STATUS = {"unknown": 404, "limited": 429}


def _invalid(request: HttpRequest, reason: str) -> HttpResponse:
    return render(
        request,
        "accounts/invitation_invalid.html",
        {"reason": reason},
        status=INVALID_STATUS.get(reason, 410),
    )


@csrf_protect
@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The invited person's page (no account yet): who invites them to what, and a form to
    choose a username and a password. A used, expired, revoked or unknown link says so, and
    shows nothing of the invitation."""
    if _limited(request):
        return _invalid(request, "limited")
    try:
        invitation = services.invitation_resolve(token)
    except services.InvitationInvalid as exc:
        return _invalid(request, exc.reason)
    form = InvitationAcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept(
                token=token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
            )
        except services.InvitationInvalid as exc:
            return _invalid(request, exc.reason)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            # As allauth records a password sign-in: the person may enrol a second factor now.
            record_authentication(request, user, method="password", username=user.username)
            messages.success(request, _("Welcome: your account is ready."))
            if invitation.deal_id:
                return redirect("portal:nda", deal_pk=invitation.deal_id)
            return redirect("home")
    status = 400 if form.errors else 200
    return render(
        request,
        "accounts/invitation_accept.html",
        {"invitation": invitation, "form": form},
        status=status,
    )


def _form_errors(form: InvitationAcceptForm, exc: ValidationError) -> None:
    """A service's refusal on the field it concerns (username taken, password too weak)."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error("username" if name == "username" else None, errors)
    else:
        form.add_error("password1", exc.messages)


def _staff_inviter(request: HttpRequest) -> None:
    user: Any = request.user
    if not (user.is_superuser or user.has_role(Role.COMPLIANCE)):
        raise PermissionDenied


@login_required
@require_http_methods(["GET", "POST"])
def staff_invitations(request: HttpRequest) -> HttpResponse:
    """Compliance officers and administrators invite brokers and compliance officers of their
    firm by e-mail, and see (and revoke) the invitations still pending."""
    _staff_inviter(request)
    user: Any = request.user
    form = InvitationForm(request.POST or None, staff=True)
    status = 200
    if request.method == "POST":
        if form.is_valid() and user.organization is None:
            form.add_error(
                None, _("Your account belongs to no organisation: no firm to invite to.")
            )
        elif form.is_valid():
            try:
                services.invitation_create(
                    actor=user,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    organization=user.organization,
                    language=form.cleaned_data["language"],
                )
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                messages.success(
                    request,
                    _("Invitation sent to {email}.").format(email=form.cleaned_data["email"]),
                )
                return redirect("accounts:staff_invitations")
        status = 400
    pending = (
        Invitation.objects.restrict(user, "view")
        .filter(deal__isnull=True, accepted_at__isnull=True, revoked_at__isnull=True)
        .filter(expires_at__gt=timezone.now())
        .select_related("invited_by", "organization")
    )
    buyers = Organization.objects.filter(kind=OrganizationKind.BUYER).order_by("legal_name")
    return render(
        request,
        "accounts/staff_invitations.html",
        {"form": form, "pending": pending, "buyers": buyers},
        status=status,
    )


@login_required
@require_POST
def buyer_second_factor(request: HttpRequest, pk: int) -> HttpResponse:
    """Compliance sets whether a buyer organisation's users must use a second factor."""
    _staff_inviter(request)
    organization = get_object_or_404(Organization, pk=pk, kind=OrganizationKind.BUYER)
    required = request.POST.get("required") == "1"
    if services.buyer_second_factor_set(
        actor=request.user, organization=organization, required=required
    ):
        message = (
            _("{organisation}: its users must now sign in with a second factor.")
            if required
            else _("{organisation}: its users may now sign in with a password alone.")
        )
        messages.success(request, message.format(organisation=organization.legal_name))
    return redirect("accounts:staff_invitations")


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Withdraw a pending invitation; outside the user's scope, the 404 of a missing one."""
    invitation = get_object_or_404(Invitation.objects.restrict(request.user, "change"), pk=pk)
    if services.invitation_revoke(actor=request.user, invitation=invitation):
        messages.success(request, _("Invitation revoked: its link no longer works."))
    else:
        messages.info(request, _("This invitation was no longer pending."))
    if invitation.deal_id:
        return redirect("transfers:deal_detail", pk=invitation.deal_id)
    return redirect("accounts:staff_invitations")
