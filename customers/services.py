"""Writes to the customer vault: one function per use case, each with its audit event.

Services take plaintext for encrypted fields and let the model encrypt it; they validate with
``full_clean()`` (which also computes blind indexes, so duplicate e-mails and id numbers are
reported as validation errors rather than database errors) and save with ``update_fields``.
Audit details name fields, never their values.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audits.choices import AuditAction
from audits.services import record_event
from transferdesk.crypto.fields import EncryptedField, assign, blind_index_fields
from transferdesk.models import DataKey, DataKeyPurpose

from .models import Customer, Organization
from .registry import fields_of, tier_of

#: Fields a caller may set through these services (everything classified in the registry).
EDITABLE_FIELDS = frozenset(
    name for tier in ("general", "sensitive", "core") for name in fields_of(Customer, tier)
)


def _check_names(values: Mapping[str, Any]) -> None:
    unknown = sorted(set(values) - EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(
            dict.fromkeys(unknown, _("This field does not exist or cannot be set here."))
        )


def _exclude_all_but(changed: list[str]) -> list[str]:
    """``full_clean`` exclusions that validate only ``changed`` and the constraints they touch.

    Django skips a constraint when any of its fields is excluded, so the organisation and the
    blind indexes of changed sources stay in.
    """
    keep = {*changed, "organization"}
    keep |= {f.name for f in blind_index_fields(Customer) if f.source in changed}
    return [f.name for f in Customer._meta.fields if f.name not in keep]


def _set_history_user(customer: Customer, actor: Any) -> None:
    # simple-history reads the user from the request in views; services also run in commands
    # and tasks, so the actor is given explicitly.
    if actor is not None and getattr(actor, "is_authenticated", False):
        customer._history_user = actor  # type: ignore[attr-defined]


# Not durable: the import service creates many customers inside its own all-or-nothing
# transaction.
@transaction.atomic
def customer_create(
    *, actor: Any, organization: Organization, values: Mapping[str, Any]
) -> Customer:
    """Create a customer with its own data key (generated here, wrapped under the active master
    key) so that every customer can be crypto-shredded alone."""
    _check_names(values)
    customer = Customer(organization=organization, **values)
    # The data key is created before validation because encryption in full_clean/save needs
    # it; a failed validation rolls both back with the transaction.
    customer.data_key = DataKey.generate(purpose=DataKeyPurpose.CUSTOMER)
    customer.full_clean()
    _set_history_user(customer, actor)
    customer.save(force_insert=True)
    record_event(
        action=AuditAction.CREATE,
        actor=actor,
        obj=customer,
        details={"organization": organization.pk, "fields": sorted(values)},
    )
    return customer


@transaction.atomic(durable=True)
def customer_update(*, actor: Any, customer: Customer, values: Mapping[str, Any]) -> Customer:
    """Change some fields; only the fields whose value actually changed are written (encrypted
    fields assigned an equal value keep their ciphertext), and the audit event names them."""
    _check_names(values)
    changed: list[str] = []
    for name, value in values.items():
        field = Customer._meta.get_field(name)
        assert isinstance(field, models.Field)  # _check_names allows concrete fields only
        if isinstance(field, EncryptedField):
            if assign(customer, name, value):
                changed.append(name)
        elif getattr(customer, field.attname) != value:
            setattr(customer, name, value)
            changed.append(name)
    if not changed:
        return customer
    # Validate only what changed: the other encrypted fields stay unread (no needless
    # decryption, and a record can be corrected without touching its core tier).
    customer.full_clean(exclude=_exclude_all_but(changed))
    _set_history_user(customer, actor)
    customer.save(update_fields=[*changed, "updated_at"])
    record_event(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=customer,
        details={
            "fields": sorted(changed),
            "tiers": sorted({str(tier_of(Customer, name)) for name in changed}),
        },
    )
    return customer


@transaction.atomic(durable=True)
def customer_mark_verified(
    *, actor: Any, customer: Customer, on: datetime.date | None = None
) -> Customer:
    """Record the periodic verification of a record (the source practice's "verify regularly")."""
    customer.last_verified_on = on or timezone.localdate()
    customer.full_clean(exclude=_exclude_all_but(["last_verified_on"]))
    _set_history_user(customer, actor)
    customer.save(update_fields=["last_verified_on", "updated_at"])
    record_event(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=customer,
        details={"fields": ["last_verified_on"], "verified": True},
    )
    return customer
