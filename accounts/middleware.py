"""Sign-in language plumbing: the cookie that makes a fresh sign-in come back in the user's
stored language (``LocaleMiddleware`` reads only that cookie in Django 5.2, not the session)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .throttle import address_backoff

#: Set on the request by the ``user_logged_in`` receiver (accounts.signals).
SIGN_IN_LANGUAGE = "_sign_in_language"


def set_language_cookie(response: HttpResponse, language: str) -> None:
    """The cookie exactly as Django's ``set_language`` view writes it."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


class SignInLanguageMiddleware:
    """On the response to a successful sign-in (any sign-in view, the admin's included), set
    the language cookie to the language the user last chose."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        language = getattr(request, SIGN_IN_LANGUAGE, None)
        if language:
            set_language_cookie(response, language)
        return response


class SignInBackoffMiddleware:
    """Refuses sign-in attempts (any sign-in view, the admin's included) from an address that
    went past ``SIGN_IN_ADDRESS_LIMIT`` failures in the window, with 429 and ``Retry-After``.

    Lock-outs are per username and address (django-axes); this is the separate, much higher
    limit for one address spraying many accounts. It answers before the password is checked,
    so the refused attempts cost no hashing, and it needs no CAPTCHA: a person who really is
    behind that address waits for the window to end.
    """

    SIGN_IN_VIEWS = frozenset(
        {"accounts:login", "admin:login", "mfa_authenticate", "mfa_login_webauthn"}
    )

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        match = request.resolver_match
        if request.method != "POST" or match is None or match.view_name not in self.SIGN_IN_VIEWS:
            return None
        retry_after = address_backoff(request)
        if retry_after is None:
            return None
        response = render(
            request,
            "accounts/backoff.html",
            {"minutes": max(1, math.ceil(retry_after / 60))},
            status=429,
        )
        response["Retry-After"] = str(retry_after)
        return response
