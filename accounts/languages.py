"""Each user's language: the one they last chose in the switcher, or the site's default.

Work done outside the user's request (report and certificate jobs, reminder e-mails) has no
``Accept-Language`` or cookie to go by, so it asks here, with the user row or its id.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from django.conf import settings
from django.contrib.auth import get_user_model


def supported(language: str | None) -> TypeGuard[str]:
    """Whether ``language`` is one of the site's languages (blank is not)."""
    return bool(language) and language in dict(settings.LANGUAGES)


def user_language(user: Any) -> str:
    """The language to write to ``user`` in (the site default for nobody or no choice)."""
    language = getattr(user, "language", "") if user is not None else ""
    return language if supported(language) else settings.LANGUAGE_CODE


def user_language_by_id(user_id: Any) -> str:
    """As ``user_language``, from an id (what a task receives); a missing user gets the default."""
    if user_id is None:
        return settings.LANGUAGE_CODE
    language = (
        get_user_model()._default_manager.filter(pk=user_id).values_list("language", flat=True)
    ).first()
    return language if supported(language) else settings.LANGUAGE_CODE


def site_language(code: str | None) -> str:
    """The site language for a stored or asked-for code (a customer's ``zh-CN``, a ``?lang=zh``):
    Simplified Chinese for any Chinese, English otherwise. The one place that maps them."""
    return "zh-hans" if (code or "").lower().startswith("zh") else "en"
