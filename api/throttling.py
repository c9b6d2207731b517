"""Rate limits per key: a key's calls are counted in the Django cache (Redis in production, so
every web process shares the count); past ``API_KEY_RATE`` the answer is 429 with
``Retry-After`` (DRF adds the header from the throttle's wait)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from transferdesk.principals import is_machine


class KeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_rate(self) -> str:
        # Read at each request (DRF reads its own setting once, at import), so a deployment's
        # setting and a test's override both apply.
        return str(settings.API_KEY_RATE)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not is_machine(request.user):
            return None  # no key, no count: such a request is refused anyway
        return self.cache_format % {"scope": self.scope, "ident": request.user.key_prefix}
