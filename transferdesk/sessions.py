"""Sessions: Django's middleware, except for the fragments a page fetches by itself.

The session is saved on every request (``SESSION_SAVE_EVERY_REQUEST``: the idle timeout counts
from the user's last request). A fragment a page loads in the background (htmx ``load``) is not
the user's activity, and it races the user's next click: signing out while it is in flight
deletes the session row, and Django then answers the fragment with a 400
(``SessionInterrupted``). A view marked ``@passive_session`` reads the session but never saves
it, so it neither extends the idle timeout nor fails that way.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers

_PASSIVE = "_td_passive_session"


def mark_passive(request: HttpRequest) -> None:
    """Mark ``request`` as one the page made by itself: its response saves no session."""
    setattr(request, _PASSIVE, True)


def is_passive(request: HttpRequest) -> bool:
    return getattr(request, _PASSIVE, False)


def passive_session(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Mark a background fragment's view: its request never saves the session."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        mark_passive(request)
        return view(request, *args, **kwargs)

    return wrapped


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's session middleware, except that a passive request saves nothing it did not
    change: with ``SESSION_SAVE_EVERY_REQUEST`` each response renews the session's expiry, and
    a tab left open would otherwise poll its session alive for ever (the bell's count)."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if is_passive(request) and not request.session.modified:
            # What Django's middleware adds to a response that read the session, without the
            # save: the fragment is per user, never to be cached for another.
            patch_vary_headers(response, ("Cookie",))
            patch_cache_control(response, private=True)
            return response
        return super().process_response(request, response)
