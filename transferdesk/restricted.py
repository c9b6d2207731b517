"""The scoped-read door, ``Model.objects.restrict(user, action)`` (DESIGN.md guarantee 5).

Apart from ``transferdesk.permissions`` (which re-exports it) because it imports no app: the
trail's own models use it too, and the trail imports nothing above the core.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from .principals import is_machine


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
