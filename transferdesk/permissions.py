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
from .principals import is_machine

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


class RestrictedQuerySet(models.QuerySet):
    """The one door for reads (DESIGN.md guarantee 5): ``Model.objects.restrict(user, action)``.

    Each model says who may reach which of its rows by defining a classmethod
    ``restrict_q(user, action) -> Q`` built on django-guardian object permissions granted at
    deal or organisation level. Anonymous and inactive users get nothing. An API key (a
    ``transferdesk.principals.MachinePrincipal``) gets ``restrict_machine_q(principal, action)``
    where the model defines it, and nothing where it does not. Superusers get no
    wider view here: administrators work in the Django admin, where personal data is masked,
    and guardian's superuser and global-permission shortcuts are never used (this deliberately
    departs from "superusers pass" in CONVENTIONS.md, because DESIGN.md's guarantee 5 switches
    those widenings off).
    """

    def restrict(self, user: Any, action: str = "view") -> RestrictedQuerySet:
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if is_machine(user):
            # An API key reaches only the models that say how (``restrict_machine_q``): its
            # organisation's rows within its scopes. Every other model is closed to keys.
            machine_q = getattr(self.model, "restrict_machine_q", None)
            if machine_q is None:
                return self.none()
            return self.filter(machine_q(user, action)).distinct()
        restrict_q = getattr(self.model, "restrict_q", None)
        if restrict_q is None:
            raise TypeError(f"{self.model.__name__} defines no restrict_q(user, action)")
        return self.filter(restrict_q(user, action)).distinct()


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
