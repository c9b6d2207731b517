"""Who is told, when an event has no deal to narrow it: every officer, and administrators."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from accounts.choices import Role


def officers() -> QuerySet:
    """Every active compliance officer."""
    return get_user_model()._default_manager.filter(groups__name=Role.COMPLIANCE, is_active=True)


def officers_and_admins() -> QuerySet:
    """Every active compliance officer and administrator, once each."""
    return (
        get_user_model()
        ._default_manager.filter(Q(groups__name=Role.COMPLIANCE) | Q(is_superuser=True))
        .filter(is_active=True)
        .distinct()
    )
