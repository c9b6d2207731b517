"""The sessions page (issue 15): allauth.usersessions lists the signed-in person's sessions and
signs out the others; this module adds signing out one session and the audit event of every
session ended.

- ``UserSessionsAdapter``: allauth's adapter, recording ``SESSION_ENDED`` for each session it
  ends (the actor is the person signed in on this request).
- ``UserSessionsMiddleware``: allauth's activity tracking for the person's own requests only:
  a fragment the page fetches by itself (htmx: the bell's poll, progress bars) is not activity,
  and each tracked request is a write, so a session's "last seen" moves at most once a minute.
- ``end_session``: the "sign out" button of one row, scoped to the person's own sessions (any
  other id is a 404); signing out the current one signs this browser out. Ending sessions
  needs a fresh second factor (ASVS 5.0 7.5.2: "having re-entered login credentials").
- ``end_user_sessions``: an administrator signs a person out everywhere (the admin's action);
  deactivating an account does it too (``accounts.services.user_admin_save``, ASVS 7.4.2).
- ``SessionLifetimeMiddleware``: however active, a session ends ``SESSION_ABSOLUTE_LIFETIME``
  after its sign-in (ASVS 7.3.2); the idle timeout is the session cookie's age.
- A re-authentication (the step-up's second factor) gives the session a new key (ASVS 7.2.4),
  as a sign-in does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from allauth.account.signals import user_logged_in
from allauth.core import context
from allauth.mfa import signals as mfa_signals
from allauth.usersessions.adapter import DefaultUserSessionsAdapter
from allauth.usersessions.internal.flows.sessions import end_sessions
from allauth.usersessions.middleware import UserSessionsMiddleware as AllauthUserSessionsMiddleware
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_logged_in as django_user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from transferdesk.sessions import is_passive
from transferdesk.trail import AuditAction, record_event

from .mfa import step_up

#: Seconds between two updates of one session's "last seen" (and address, device).
SEEN_EVERY = 60
_SEEN_KEY = "_td_session_seen"
_SIGNED_IN_KEY = "_td_signed_in_at"


class UserSessionsMiddleware(AllauthUserSessionsMiddleware):
    """Records the request after the view answered, not before: a request that signed the
    person out has nothing left to record, and a view marked passive
    (``transferdesk.sessions.passive_session``: the bell's poll, progress bars) is known by then.
    allauth itself records the session at a sign-in through its pages (its ``user_logged_in``
    receiver); the mark set beside it below keeps the first request after it from writing again."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            getattr(request, "user", None) is not None
            and request.user.is_authenticated
            and request.session.session_key
            and not request.headers.get("HX-Request")
            and not is_passive(request)
            and time.time() - request.session.get(_SEEN_KEY, 0) >= SEEN_EVERY
        ):
            UserSession.objects.create_from_request(request)
            request.session[_SEEN_KEY] = time.time()
        return response


@receiver(user_logged_in)
def _seen_at_sign_in(sender: object, request: HttpRequest | None, **kwargs: object) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[_SEEN_KEY] = time.time()


@receiver(django_user_logged_in, dispatch_uid="accounts_session_signed_in_at")
def _signed_in_at(sender: object, request: HttpRequest | None = None, **kwargs: object) -> None:
    """Every sign-in (allauth's pages, an invitation, a test's ``force_login``) starts the
    absolute lifetime."""
    if request is not None and hasattr(request, "session"):
        request.session[_SIGNED_IN_KEY] = time.time()


@receiver(mfa_signals.authenticator_used, dispatch_uid="accounts_reauthentication_new_key")
def _new_key_on_reauthentication(
    sender: object, request: HttpRequest | None = None, reauthenticated: bool = False, **_: object
) -> None:
    """A new session key once the person gave the factor again; the sessions page's row follows
    the key (allauth lists a session by it)."""
    if not reauthenticated or request is None or not request.session.session_key:
        return
    old = request.session.session_key
    request.session.cycle_key()
    UserSession.objects.filter(session_key=old).update(session_key=request.session.session_key)


class SessionLifetimeMiddleware:
    """Signs a person out once their session is ``SESSION_ABSOLUTE_LIFETIME`` old, with a
    message, and leads them to the sign-in page (a background fragment: the page reloads)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            signed_in_at = request.session.get(_SIGNED_IN_KEY)
            limit = settings.SESSION_ABSOLUTE_LIFETIME.total_seconds()
            if signed_in_at is None:
                request.session[_SIGNED_IN_KEY] = time.time()  # a session older than the rule
            elif time.time() - signed_in_at >= limit:
                return self._expire(request)
        return self.get_response(request)

    def _expire(self, request: HttpRequest) -> HttpResponse:
        hours = int(settings.SESSION_ABSOLUTE_LIFETIME.total_seconds() // 3600)
        logout(request)
        messages.info(
            request,
            ngettext(
                "You were signed in for %(hours)d hour, the longest a session lasts: sign in "
                "again.",
                "You were signed in for %(hours)d hours, the longest a session lasts: sign in "
                "again.",
                hours,
            )
            % {"hours": hours},
        )
        if request.headers.get("HX-Request"):
            response = HttpResponse(status=204)
            response["HX-Refresh"] = "true"
            return response
        return redirect_to_login(request.get_full_path())


def _end(session: UserSession, *, actor: Any, **details: Any) -> None:
    with transaction.atomic():
        pk = session.pk
        session.end()
        record_event(
            action=AuditAction.SESSION_ENDED,
            actor=actor,
            object_type="usersessions.usersession",
            object_id=pk,
            details=details,
        )


def end_user_sessions(*, actor: Any, user: Any, reason: str) -> int:
    """Sign ``user`` out everywhere, one event per session; returns how many were ended."""
    sessions = list(UserSession.objects.filter(user=user))
    for session in sessions:
        _end(session, actor=actor, user=user.pk, reason=reason)
    return len(sessions)


class UserSessionsAdapter(DefaultUserSessionsAdapter):
    def end_sessions(self, sessions: Iterable[UserSession]) -> None:
        request = context.request
        for session in sessions:
            _end(session, actor=request.user, current=session.is_current())


@login_required
@require_POST
@step_up
def end_session(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_object_or_404(UserSession, pk=pk, user_id=request.user.pk)
    current = session.is_current()
    end_sessions(request, [session])
    if current:
        return HttpResponseRedirect(reverse("accounts:login"))
    messages.info(request, _("That session is signed out."))
    return HttpResponseRedirect(reverse("usersessions_list"))
