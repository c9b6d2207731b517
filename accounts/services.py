"""Account use cases: creating users, giving them roles, remembering their language."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Group
from django.db import transaction

from customers.models import Organization

from .choices import Role
from .languages import supported
from .models import User


@transaction.atomic
def user_upsert(
    *,
    username: str,
    password: str,
    organization: Organization | None,
    roles: Iterable[Role],
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
) -> tuple[User, bool]:
    """Create the user or bring an existing one to exactly this state; returns (user, created)."""
    user, created = User.objects.get_or_create(username=username)
    user.organization = organization
    user.first_name, user.last_name, user.email = first_name, last_name, email
    user.is_staff, user.is_superuser, user.is_active = is_staff, is_superuser, True
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    user.groups.set(Group.objects.filter(name__in=[str(r) for r in roles]))
    return user, created


def user_set_language(*, user: User, language: str) -> bool:
    """Remember the language ``user`` chose in the switcher; returns whether it changed.

    A preference, not data about anybody: no audit event. An unsupported code is ignored
    (the switcher itself ignores it too).
    """
    if not supported(language) or user.language == language:
        return False
    return User.objects.filter(pk=user.pk).update(language=language) == 1
