"""Account pages that are not Django's own: the language switcher that remembers the choice."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST
from django.views.i18n import LANGUAGE_QUERY_PARAMETER
from django.views.i18n import set_language as django_set_language

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
