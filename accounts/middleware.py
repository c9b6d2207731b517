"""Sign-in language plumbing: the cookie that makes a fresh sign-in come back in the user's
stored language (``LocaleMiddleware`` reads only that cookie in Django 5.2, not the session)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

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
