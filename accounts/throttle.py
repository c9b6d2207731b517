"""The per-address limit on failed sign-ins: only for clearly abusive volumes.

django-axes locks a username at one client address after a few failures. One address trying
many usernames never trips that, so failures are also counted per client address
(``transferdesk.clientip``, so a trusted proxy's address is never the one counted) over a
window; past ``SIGN_IN_ADDRESS_LIMIT`` the address is told to back off until the window ends.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from transferdesk import ratelimit
from transferdesk.clientip import client_ip


def _key(address: str) -> str:
    return f"signin:fail:{address}"


def _window() -> int:
    return max(1, int(settings.SIGN_IN_ADDRESS_WINDOW.total_seconds()))


def address_backoff(request: HttpRequest) -> int | None:
    """Seconds the request's address must wait before signing in again, or None."""
    address = client_ip(request)
    if address is None:
        return None
    count = ratelimit.peek(_key(address), _window())
    return count.retry_after if count.value >= settings.SIGN_IN_ADDRESS_LIMIT else None


@receiver(user_login_failed, dispatch_uid="accounts_count_failed_sign_in_per_address")
def count_failure(sender: Any, request: Any = None, **_: Any) -> None:
    address = client_ip(request) if isinstance(request, HttpRequest) else None
    if address is not None:
        ratelimit.hit(_key(address), _window())
