"""Which audit events an API key may read (``AuditEvent.restrict_machine_q``).

A key belongs to a seller or a buyer organisation, never to the compliance function, so it
never reads the whole trail as the compliance explorer does. It reads, with the scope
``events.read``:

- the events its organisation's own people caused (their sign-ins, portal views, receipts,
  exports...);
- the events about its organisation's own keys: every call made with one (``api_call``), and
  their issue and revocation;
- whatever the apps above register here (``register_machine_event_scope``): transfers adds
  every event of the deals the organisation sells (its customers' data, its deal), so that a
  seller's system can see who read what. A buyer does not get the seller's and the broker's
  events of its deal (the plan of stages not yet handed over, who prepared them): the buyer
  portal does not show them either.

The core cannot import the deals, hence the registry: an app adds a function of the principal
returning a ``Q`` over the events, once, in its ``ready()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Q

from transferdesk.principals import ApiScope

from .choices import AuditAction

#: The events about a key, whose ``details["organization"]`` names its organisation.
KEY_ACTIONS = (AuditAction.API_CALL, AuditAction.API_KEY_CREATED, AuditAction.API_KEY_REVOKED)

_scopes: list[Callable[[Any], Q]] = []


def register_machine_event_scope(scope: Callable[[Any], Q]) -> None:
    """Widen what keys read by ``scope(principal) -> Q`` (idempotent)."""
    if scope not in _scopes:
        _scopes.append(scope)


def machine_event_q(principal: Any, action: str) -> Q:
    if action != "view" or not principal.has_scope(ApiScope.EVENTS_READ):
        return Q(pk__in=[])
    organization = principal.organization_id
    q = Q(actor__organization_id=organization) | Q(
        action__in=KEY_ACTIONS, details__organization=organization
    )
    for scope in _scopes:
        q |= scope(principal)
    return q
