"""The sessions page (issue 15): allauth.usersessions lists the signed-in person's sessions and
signs out the others; this module adds signing out one session and the audit event of every
session ended.

- ``UserSessionsAdapter``: allauth's adapter, recording ``SESSION_ENDED`` for each session it
  ends (the actor is the person signed in on this request).
- ``UserSessionsMiddleware``: allauth's activity tracking for the person's own requests only:
  a fragment the page fetches by itself (htmx: the bell's poll, progress bars) is not activity,
  and each tracked request is a write, so a session's "last seen" moves at most once a minute.
- ``end_session``: the "sign out" button of one row, scoped to the person's own sessions (any
  other id is a 404); signing out the current one signs this browser out.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from allauth.core import context
from allauth.usersessions.adapter import DefaultUserSessionsAdapter
from allauth.usersessions.internal.flows.sessions import end_sessions
from allauth.usersessions.middleware import UserSessionsMiddleware as AllauthUserSessionsMiddleware
from allauth.usersessions.models import UserSession
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from transferdesk.trail import AuditAction, record_event

#: Seconds between two updates of one session's "last seen" (and address, device).
SEEN_EVERY = 60
_SEEN_KEY = "_td_session_seen"


class UserSessionsMiddleware(AllauthUserSessionsMiddleware):
    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.headers.get("HX-Request") or not hasattr(request, "session"):
            return self.get_response(request)
        now = time.time()
        if now - request.session.get(_SEEN_KEY, 0) < SEEN_EVERY:
            return self.get_response(request)
        response = super().__call__(request)
        if request.user.is_authenticated and request.session.session_key:
            request.session[_SEEN_KEY] = now
        return response


class UserSessionsAdapter(DefaultUserSessionsAdapter):
    def end_sessions(self, sessions: Iterable[UserSession]) -> None:
        request = context.request
        for session in sessions:
            with transaction.atomic():
                pk = session.pk
                current = session.is_current()
                session.end()
                record_event(
                    action=AuditAction.SESSION_ENDED,
                    actor=request.user,
                    object_type="usersessions.usersession",
                    object_id=pk,
                    details={"current": current},
                )


@login_required
@require_POST
def end_session(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_object_or_404(UserSession, pk=pk, user_id=request.user.pk)
    current = session.is_current()
    end_sessions(request, [session])
    if current:
        return HttpResponseRedirect(reverse("accounts:login"))
    messages.info(request, _("That session is signed out."))
    return HttpResponseRedirect(reverse("usersessions_list"))
