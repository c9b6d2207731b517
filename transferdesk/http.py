"""Request types for views.

``HttpRequest.user`` is typed ``User | AnonymousUser``. Behind ``login_required`` (or a
decorator built on it) the user is always a signed-in ``User``; views there take an
``AuthenticatedHttpRequest`` so that the type checker knows it, as django-stubs recommends,
instead of each view narrowing or casting ``request.user`` again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from accounts.models import User


class AuthenticatedHttpRequest(HttpRequest):
    """The request of a view that only signed-in users reach."""

    user: User
