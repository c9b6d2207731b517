"""Machine principals: who an API request acts for, and what it may do.

An API key (the ``api`` app) acts for one organisation within the scopes it was issued with. It
is not a person: it has no roles, no object permissions, no session and no second factor, so it
can never stand in for one (issue 15). The scoped-read door (``RestrictedQuerySet.restrict``)
sends a ``MachinePrincipal`` to each model's ``restrict_machine_q`` instead of its
``restrict_q``, and a model without one is out of every key's reach. The trail records the
principal by name (key prefix and organisation), since it is no user row.

It lives in the core because the models that opt in (transfers' deals and stages) sit below
the ``api`` app that authenticates the keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class ApiScope(models.TextChoices):
    """What a key may do. Values are stored with each key and named in requests: never rename."""

    CUSTOMERS_WRITE = "customers.write", _("Push customers, purchases and interactions")
    STAGES_READ = "stages.read", _("Read deals and the status of their stages")
    FOLLOWUPS_WRITE = "followups.write", _("Read and attest follow-up tasks")
    REQUESTS_WRITE = "requests.write", _("Send data-subject requests")
    EVENTS_READ = "events.read", _("Read audit events")


@dataclass(frozen=True)
class MachinePrincipal:
    """An API key acting for ``organization`` within ``scopes``: what ``request.user`` is in the
    API. It answers the questions the product asks of a user (authenticated, active, roles) so
    that shared code treats it as a signed-in stranger with no role and no permission."""

    key_id: str
    key_prefix: str
    organization: Any
    scopes: frozenset[str]

    is_machine = True
    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None
    role_names: frozenset[str] = frozenset()

    @property
    def organization_id(self) -> Any:
        return self.organization.pk

    def has_scope(self, scope: ApiScope | str) -> bool:
        return str(scope) in self.scopes

    def has_role(self, role: Any) -> bool:
        return False

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def get_username(self) -> str:
        """How the trail names it: the key's public prefix and its organisation."""
        return f"api-key:{self.key_prefix}@{self.organization.slug}"

    @property
    def display_name(self) -> str:
        return self.get_username()

    def __str__(self) -> str:
        return self.get_username()


def is_machine(user: Any) -> bool:
    return bool(getattr(user, "is_machine", False))
