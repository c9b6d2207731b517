"""Issuing and revoking API keys, and recording every call made with one (DESIGN.md 6)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.choices import Role
from customers.choices import OrganizationKind
from customers.models import Organization
from transferdesk.principals import ApiScope, MachinePrincipal
from transferdesk.trail import AuditAction, record_event

from .models import OrganizationAPIKey

#: Organisations whose systems call the API: the seller's CRM pushes, the buyer's pulls.
KEY_HOLDER_KINDS = (OrganizationKind.SELLER, OrganizationKind.BUYER)
#: "Last used" moves at most this often: a busy key does not write its row on every call
#: (every call is in the trail anyway).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def can_manage_keys(user: Any) -> bool:
    """Compliance officers and administrators issue, list and revoke keys."""
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.is_superuser or user.has_role(Role.COMPLIANCE))
    )


@transaction.atomic(durable=True)
def api_key_create(
    *, actor: Any, organization: Organization, name: str, scopes: list[str]
) -> tuple[OrganizationAPIKey, str]:
    """Issue a key for ``organization``; returns it and the plaintext key, which exists only in
    the return value (the page shows it once). The view asks for a fresh second factor first."""
    if not can_manage_keys(actor):
        raise PermissionDenied("only compliance officers and administrators issue API keys")
    if organization.kind not in KEY_HOLDER_KINDS:
        raise ValidationError(_("API keys are for sellers and buyers."))
    chosen = sorted(set(scopes))
    if not chosen or any(scope not in ApiScope.values for scope in chosen):
        raise ValidationError(_("Choose at least one scope from the list."))
    key = OrganizationAPIKey(organization=organization, name=name, scopes=chosen, created_by=actor)
    plaintext = OrganizationAPIKey.objects.assign_key(key)
    key.full_clean()
    key.save(force_insert=True)
    record_event(
        action=AuditAction.API_KEY_CREATED,
        actor=actor,
        object_type=OrganizationAPIKey._meta.label_lower,
        object_id=key.prefix,
        details={"organization": organization.pk, "scopes": chosen},
    )
    return key, plaintext


@transaction.atomic(durable=True)
def api_key_revoke(*, actor: Any, key: OrganizationAPIKey) -> bool:
    """Revoke ``key`` at once (its next call is refused); False if it already was."""
    if not can_manage_keys(actor):
        raise PermissionDenied("only compliance officers and administrators revoke API keys")
    changed = OrganizationAPIKey.objects.filter(pk=key.pk, revoked=False).update(
        revoked=True, revoked_at=timezone.now(), revoked_by=actor
    )
    if not changed:
        return False
    record_event(
        action=AuditAction.API_KEY_REVOKED,
        actor=actor,
        object_type=OrganizationAPIKey._meta.label_lower,
        object_id=key.prefix,
        details={"organization": key.organization_id},
    )
    return True


def api_key_used(*, key: OrganizationAPIKey) -> None:
    """Move the key's "last used" (at most once a minute)."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        OrganizationAPIKey.objects.filter(pk=key.pk).update(last_used_at=now)


@transaction.atomic(durable=True)
def api_call_record(
    *,
    principal: MachinePrincipal,
    endpoint: str,
    method: str,
    status: int,
    object_type: str = "",
    object_id: Any = "",
    deal: Any = None,
) -> None:
    """One event per call made with a key, whatever its answer: who (the key's prefix and
    organisation), which endpoint, which object and deal, and the status it got."""
    record_event(
        action=AuditAction.API_CALL,
        actor=principal,
        object_type=object_type,
        object_id=object_id,
        deal=deal,
        details={
            "key": principal.key_prefix,
            "organization": principal.organization_id,
            "endpoint": endpoint,
            "method": method,
            "status": status,
        },
    )
