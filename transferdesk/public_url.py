"""The site's public address, on which every link in an e-mail, letter or notice is built.

In production ``PUBLIC_BASE_URL`` is mandatory (settings refuse to start without it): a link
built from a request's Host header could be steered by whoever sends the request. In
development, when it is unset, the address of the latest request is used instead, so that
``make run`` on another port or host mails links that open; a job that runs before any request
falls back to ``http://localhost:8000``.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urljoin

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

_CACHE_KEY = "transferdesk:public-base-url"
_FALLBACK = "http://localhost:8000/"
# The last base this process stored: the cache is written only when it changes.
_last_seen: str | None = None


def public_base_url() -> str:
    configured = getattr(settings, "PUBLIC_BASE_URL", "")
    if configured:
        return configured if configured.endswith("/") else configured + "/"
    # The cache, not only this process's memory: a worker process builds the links of the
    # notices that a request in the web process asked for.
    return cache.get(_CACHE_KEY) or _FALLBACK


def public_url(path: str) -> str:
    """``path`` (absolute, e.g. from ``reverse``) on the site's public address."""
    return urljoin(public_base_url(), path)


class PublicBaseUrlMiddleware:
    """Development only: remembers the address people use when ``PUBLIC_BASE_URL`` is unset.
    ``build_absolute_uri`` goes through ``get_host``, so only an allowed host is ever kept."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        global _last_seen
        if not settings.PUBLIC_BASE_URL:
            base = request.build_absolute_uri("/")
            if base != _last_seen:
                cache.set(_CACHE_KEY, base, None)
                _last_seen = base
        return self.get_response(request)
