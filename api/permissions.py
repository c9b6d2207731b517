"""What a key may call: each view names the scope it needs (``required_scope``)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from transferdesk.principals import is_machine


class HasScope(BasePermission):
    """A key (and only a key) holding the view's ``required_scope``. Without a key: 401;
    with one lacking the scope: 403. A view without a scope is refused to every key."""

    message = _("This API key does not have the scope this endpoint needs.")

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not is_machine(user):
            return False  # DRF turns this into a 401 (no successful authenticator)
        scope = getattr(view, "required_scope", None)
        return scope is not None and user.has_scope(scope)
