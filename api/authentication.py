"""The API's only way in: ``Authorization: Api-Key <key>``.

There is deliberately no session (nor basic) authentication in the API: a person's web session,
even one that just passed a second factor, does not call it, and a key never signs anyone in,
so it never produces a Django session nor opens a web page (issue 15: machine credentials
never stand in for a person). A key that is unknown, malformed, revoked or expired gets the
same 401.
"""

from __future__ import annotations

import re
from typing import Any, cast

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from .models import OrganizationAPIKey
from .services import api_key_used

KEYWORD = "Api-Key"
#: What djangorestframework-api-key generates: an 8-character prefix, a dot, a 32-character
#: secret. Anything else is refused before any query (a NUL byte would make PostgreSQL fail).
KEY_FORMAT = re.compile(r"[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}")


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates a request by its organisation API key; ``request.user`` becomes the key's
    ``MachinePrincipal`` and ``request.auth`` the key."""

    def authenticate(self, request: Request) -> tuple[Any, OrganizationAPIKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        keyword, _space, value = header.partition(" ")
        if keyword.lower() != KEYWORD.lower():
            return None  # no key: anonymous, refused by the permission with a 401
        value = value.strip()
        if not KEY_FORMAT.fullmatch(value):
            raise exceptions.AuthenticationFailed(_("This API key is not valid."))
        try:
            key = cast(OrganizationAPIKey, OrganizationAPIKey.objects.get_from_key(value))
        except OrganizationAPIKey.DoesNotExist:
            raise exceptions.AuthenticationFailed(_("This API key is not valid.")) from None
        if key.has_expired:
            raise exceptions.AuthenticationFailed(_("This API key is not valid."))
        api_key_used(key=key)
        return key.principal(), key

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to a request without a valid key.
        return KEYWORD
