"""Shared permission plumbing: role checks for pages, and the scoped-read door ``restrict``."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpResponse

from accounts.choices import Role

from .http import AuthenticatedHttpRequest

# The scoped-read door lives apart (it imports no app, so the trail can use it too); it is
# imported from here as it always was.
from .restricted import RestrictedQuerySet

__all__ = ["RestrictedQuerySet", "objects_with_perm", "role_required"]

View = Callable[..., HttpResponse]


def role_required(*roles: Role) -> Callable[[View], View]:
    """Signed-in users with one of ``roles`` pass; other signed-in users get 403."""

    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapper(request: AuthenticatedHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            # Signed in: login_required ran first.
            if not any(request.user.has_role(role) for role in roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def objects_with_perm(user: Any, perm: str, queryset: models.QuerySet) -> models.QuerySet:
    """The objects of ``queryset`` on which ``user`` holds object permission ``perm``.

    A thin wrapper over guardian's ``get_objects_for_user`` with its permissive defaults
    switched off: no superuser shortcut, no global permissions, user permissions only
    (roles are groups, and a group never carries object permissions here).
    """
    from guardian.shortcuts import get_objects_for_user

    return get_objects_for_user(
        user,
        perm,
        klass=queryset,
        use_groups=False,
        with_superuser=False,
        accept_global_perms=False,
    )
