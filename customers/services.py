"""Writes to the customer vault: one function per use case, each with its audit event.

Services take plaintext for encrypted fields and let the model encrypt it; they validate with
``full_clean()`` (which also computes blind indexes, so duplicate e-mails and id numbers are
reported as validation errors rather than database errors) and save with ``update_fields``.
Audit details name fields, never their values.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, models, transaction
from django.db.models.functions import Length
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from accounts.choices import Role
from transferdesk import jobs
from transferdesk.crypto import aead, blind_index
from transferdesk.crypto.fields import EncryptedField, assign, blind_index_fields
from transferdesk.crypto.keyring import KEY_BYTES, get_keyring
from transferdesk.jobs import (
    Job,
    JobStatus,
    job_create,
    job_fail,
    job_progress,
    job_start,
    job_succeed,
)
from transferdesk.models import DataKey, DataKeyPurpose
from transferdesk.trail import AuditAction, record_event

from . import bulk, importing
from .choices import OrganizationKind, Tier
from .models import (
    MANAGE_CUSTOMERS,
    ORGANIZATION_PERMISSIONS,
    REVEAL_CORE,
    Customer,
    ImportStatus,
    ImportUpload,
    Interaction,
    Organization,
    PurchaseRecord,
)
from .registry import fields_of, tier_of

#: Import logs carry counts and ids only: never a value from the file.
logger = logging.getLogger(__name__)

#: Sent inside the transaction of a correction of a customer record, after the save:
#: ``transfers`` (an upper layer) listens and gives the buyers who received the record a
#: follow-up task (GDPR art. 19); customers does not import it. Sent with ``send``, so a
#: failing receiver rolls the correction back. Arguments: ``customer``, ``actor``, ``fields``
#: (the names of the fields that changed).
customer_corrected = Signal()

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
    customer_corrected.send(sender=Customer, customer=customer, actor=actor, fields=changed)
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


def _duplicate(organization: Organization, name: str, value: str) -> bool:
    """Whether another customer of the book holds this reference, e-mail or national id
    (the last two through their blind index: nothing is decrypted)."""
    customers = Customer.objects.filter(organization=organization)
    if name == "reference":
        return customers.filter(reference=value).exists()
    kind = {"email": blind_index.EMAIL, "national_id": blind_index.NATIONAL_ID}[name]
    digest = blind_index.blind_index(kind, value)
    return customers.filter(**{f"{name}_bidx": digest}).exists()


_DUPLICATE_MESSAGES = {
    "reference": _("A customer with this reference already exists."),
    "email": _("Another customer of this organisation has this e-mail address."),
    "national_id": _("Another customer of this organisation has this national id number."),
}


@transaction.atomic(durable=True)
def customer_add(*, actor: Any, organization: Organization, values: Mapping[str, Any]) -> Customer:
    """A customer typed in by a broker who may change the book: core fields only with
    ``reveal_core`` (checked here, the grant may have been revoked since the page was shown),
    normalised as the core correction stores them; a reference, e-mail or national id already
    in the book is an error on that field. The CREATE event names the fields, never values."""
    from .selectors import organization_actions

    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    actions = organization_actions(user=actor, organization=organization)
    if "change" not in actions:
        raise PermissionDenied
    values = dict(values)
    if any(values.get(name) for name in CORE_FIELDS) and "reveal" not in actions:
        raise PermissionDenied(_("Core fields need the dedicated permission."))
    errors: dict[str, list[Any]] = {}
    for name in CORE_FIELDS:
        if values.get(name):
            try:
                values[name] = _normalise_core(organization, name, values[name])
            except ValidationError as exc:
                errors.update(exc.message_dict)
    for name, message in _DUPLICATE_MESSAGES.items():
        if values.get(name) and name not in errors and _duplicate(organization, name, values[name]):
            errors[name] = [message]
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            return customer_create(actor=actor, organization=organization, values=values)
    except IntegrityError:
        # Another record took this reference, e-mail or id between the checks and the save.
        raise ValidationError(
            _("Another change to this customer book conflicted with this one; try again.")
        ) from None


def _changeable(actor: Any, customer: Customer) -> Customer:
    """The customer, locked, if ``actor`` may still change its book and it is not erased."""
    from .selectors import organization_actions

    customer = (
        Customer.objects.select_for_update(of=("self",))
        .select_related("organization", "data_key")
        .get(pk=customer.pk)
    )
    if "change" not in organization_actions(user=actor, organization=customer.organization):
        raise PermissionDenied
    if customer.data_key.is_destroyed:
        raise ValidationError(_("This customer was erased: there is nothing left to change."))
    return customer


def _record_change(
    *, action: AuditAction, actor: Any, customer: Customer, record: Any, fields: list[str]
) -> None:
    record_event(
        action=action,
        actor=actor,
        obj=customer,
        details={
            "record": record._meta.model_name,
            "record_id": str(record.pk),
            "fields": sorted(fields),
            "tiers": sorted({str(tier_of(type(record), name)) for name in fields}),
        },
    )


def _record_save(record: Any, actor: Any, values: Mapping[str, Any], *, create: bool) -> list[str]:
    """Assign, validate and save a purchase or interaction; returns the fields changed."""
    changed: list[str] = []
    for name, value in values.items():
        field = type(record)._meta.get_field(name)
        if isinstance(field, EncryptedField):
            if assign(record, name, value):
                changed.append(name)
        elif create or getattr(record, field.attname) != value:
            setattr(record, name, value)
            changed.append(name)
    if not changed and not create:
        return changed
    record.full_clean(exclude=["customer"])
    _set_history_user(record, actor)
    if create:
        record.save(force_insert=True)
    else:
        record.save(update_fields=changed)
    return changed


_RECORD_FIELDS: dict[Any, frozenset[str]] = {
    PurchaseRecord: frozenset(("purchased_on", "product", "amount", "currency", "notes")),
    Interaction: frozenset(("occurred_on", "channel", "summary")),
}


def _check_record_names(model: type[models.Model], values: Mapping[str, Any]) -> None:
    unknown = sorted(set(values) - _RECORD_FIELDS[model])
    if unknown:
        raise ValidationError(
            dict.fromkeys(unknown, _("This field does not exist or cannot be set here."))
        )


def _record_add(
    model: type[PurchaseRecord] | type[Interaction],
    *,
    actor: Any,
    customer: Customer,
    values: Mapping[str, Any],
) -> Any:
    _check_record_names(model, values)
    customer = _changeable(actor, customer)
    record = model(customer=customer)
    fields = [n for n in _record_save(record, actor, values, create=True) if values.get(n)]
    _record_change(
        action=AuditAction.CREATE, actor=actor, customer=customer, record=record, fields=fields
    )
    return record


def _record_update(record: Any, *, actor: Any, values: Mapping[str, Any]) -> Any:
    _check_record_names(type(record), values)
    customer = _changeable(actor, record.customer)
    record = type(record).objects.select_for_update().get(pk=record.pk, customer=customer)
    record.customer = customer
    changed = _record_save(record, actor, values, create=False)
    if changed:
        _record_change(
            action=AuditAction.UPDATE, actor=actor, customer=customer, record=record, fields=changed
        )
    return record


def _record_delete(record: Any, *, actor: Any) -> None:
    customer = _changeable(actor, record.customer)
    record = type(record).objects.get(pk=record.pk, customer=customer)
    record.customer = customer
    _set_history_user(record, actor)
    _record_change(
        action=AuditAction.DELETE, actor=actor, customer=customer, record=record, fields=[]
    )
    record.delete()


@transaction.atomic(durable=True)
def purchase_add(*, actor: Any, customer: Customer, values: Mapping[str, Any]) -> PurchaseRecord:
    """Record a purchase of ``customer`` (its notes encrypted under the customer's key); the
    CREATE event names the customer and the fields filled, never their values."""
    record: PurchaseRecord = _record_add(
        PurchaseRecord, actor=actor, customer=customer, values=values
    )
    return record


@transaction.atomic(durable=True)
def purchase_update(
    *, actor: Any, purchase: PurchaseRecord, values: Mapping[str, Any]
) -> PurchaseRecord:
    """Correct a purchase: only the fields whose value changed are written (and named in the
    UPDATE event); the history keeps the previous version."""
    record: PurchaseRecord = _record_update(purchase, actor=actor, values=values)
    return record


@transaction.atomic(durable=True)
def purchase_delete(*, actor: Any, purchase: PurchaseRecord) -> None:
    """Remove a purchase recorded by mistake; the history keeps a deletion row (encrypted
    under the customer's key, so erasing the customer still erases it)."""
    _record_delete(purchase, actor=actor)


@transaction.atomic(durable=True)
def interaction_add(*, actor: Any, customer: Customer, values: Mapping[str, Any]) -> Interaction:
    """Record a contact with ``customer`` (its summary encrypted under the customer's key)."""
    record: Interaction = _record_add(Interaction, actor=actor, customer=customer, values=values)
    return record


@transaction.atomic(durable=True)
def interaction_update(
    *, actor: Any, interaction: Interaction, values: Mapping[str, Any]
) -> Interaction:
    """Correct an interaction: only changed fields are written and named in the event."""
    record: Interaction = _record_update(interaction, actor=actor, values=values)
    return record


@transaction.atomic(durable=True)
def interaction_delete(*, actor: Any, interaction: Interaction) -> None:
    """Remove an interaction recorded by mistake; the history keeps a deletion row."""
    _record_delete(interaction, actor=actor)


# --- core-tier corrections ------------------------------------------------------------------


class CoreCorrectionReason(models.TextChoices):
    """Why a core field was corrected. A closed list rather than free text: the reason goes
    into the audit event and the history row, which must never hold personal data."""

    SUBJECT_REQUEST = "subject_request", _("The customer asked for the correction")
    DOCUMENT_CHECK = "document_check", _("Checked against an identity or bank document")
    ENTRY_ERROR = "entry_error", _("The record held a data-entry or import error")
    SELLER_RECORDS = "seller_records", _("The seller's own records were corrected")


CORE_FIELDS = tuple(fields_of(Customer, "core"))

_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}")
_ACCOUNT = re.compile(r"[A-Z0-9]{6,34}")


def _iban_ok(value: str) -> bool:
    rearranged = value[4:] + value[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _normalise_core(organization: Organization, name: str, value: str) -> str:
    """The value as stored: id numbers upper-cased without spaces (as the blind index reads
    them), account numbers without spaces, notes trimmed. Raises ``ValidationError`` for a
    malformed number; messages never repeat the value."""
    value = (value or "").strip()
    if not value:
        return ""
    if name == "national_id":
        try:
            value = blind_index.clean_national_id(value, organization.country)
        except ValidationError as exc:
            raise ValidationError({name: exc.error_list}) from None
    elif name == "bank_account":
        value = "".join(value.replace("-", " ").split()).upper()
        if not _ACCOUNT.fullmatch(value):
            raise ValidationError({name: _("An account number holds 6 to 34 letters and digits.")})
        if _IBAN.fullmatch(value) and not _iban_ok(value):
            raise ValidationError(
                {name: _("The check digits of this IBAN do not match: a character was mistyped.")}
            )
    return value


@transaction.atomic(durable=True)
def customer_correct_core(
    *, actor: Any, customer: Customer, values: Mapping[str, str], reason: str
) -> Customer:
    """Correct core-tier fields (national id number, bank account, special-category notes).

    Only for a person holding both ``manage_customers`` and ``reveal_core`` on the customer's
    organisation, checked here under a row lock (the grant may have been revoked since the page
    was shown). ``values`` maps field names to new text; ``""`` clears a field. Id numbers are
    normalised and must be unique in the organisation (checked through the blind index: no
    other record is decrypted), and the correction needs a ``CoreCorrectionReason``.

    Writes the history row (with the reason), an UPDATE event naming the fields and the reason,
    never the values, and — if the record was already handed over — a follow-up task for each
    recipient whose stage carries the changed fields (guarantee 9, GDPR art. 19).
    """
    from .selectors import organization_actions

    unknown = sorted(set(values) - set(CORE_FIELDS))
    if unknown:
        raise ValidationError(
            dict.fromkeys(unknown, _("Only core-tier fields are corrected here."))
        )
    customer = (
        Customer.objects.select_for_update(of=("self",))
        .select_related("organization", "data_key")
        .get(pk=customer.pk)
    )
    organization = customer.organization
    if not {"change", "reveal"} <= organization_actions(user=actor, organization=organization):
        raise PermissionDenied(_("Correcting core fields needs the dedicated permission."))
    if customer.data_key.is_destroyed:
        raise ValidationError(_("This customer was erased: there is nothing left to correct."))
    errors: dict[str, list[Any]] = {}
    if reason not in CoreCorrectionReason.values:
        errors["reason"] = [_("Say why the core fields are corrected.")]
    normalised: dict[str, str] = {}
    for name, value in values.items():
        try:
            normalised[name] = _normalise_core(organization, name, value)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    national_id = normalised.get("national_id")
    if national_id and "national_id" not in errors:
        digest = blind_index.blind_index(blind_index.NATIONAL_ID, national_id)
        taken = Customer.objects.filter(organization=organization, national_id_bidx=digest)
        if taken.exclude(pk=customer.pk).exists():
            errors["national_id"] = [
                _("Another customer of this organisation has this national id number.")
            ]
    if errors:
        raise ValidationError(errors)
    changed = [name for name, value in normalised.items() if assign(customer, name, value)]
    if not changed:
        raise ValidationError(_("These are the values already on record: nothing was changed."))
    customer.full_clean(exclude=_exclude_all_but(changed))
    _set_history_user(customer, actor)
    customer._change_reason = reason  # type: ignore[attr-defined]  # simple-history reads it
    try:
        with transaction.atomic():
            customer.save(update_fields=[*changed, "updated_at"])
    except IntegrityError:
        # Another record took this id number between the check above and the save.
        raise ValidationError(
            {"national_id": _("Another customer of this organisation has this national id number.")}
        ) from None
    customer_corrected.send(sender=Customer, customer=customer, actor=actor, fields=changed)
    record_event(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=customer,
        details={
            "fields": sorted(changed),
            "tiers": [str(Tier.CORE)],
            "reason": reason,
            "correction": "core",
        },
    )
    return customer


# --- organisations ---------------------------------------------------------------------------


@transaction.atomic  # not durable: the Django admin calls it inside its own transaction
def organization_admin_save(
    *, actor: Any, organization: Organization, changed: list[str], created: bool
) -> Organization:
    """Create or change an organisation from the Django admin, with its audit event.

    The event names the fields changed, never their values (contact details are business
    contact data, but the trail records ids and codes). Organisations are made and edited only
    there; who may read their customer book is given on the audited access page.
    """
    organization.full_clean()
    organization.save()
    record_event(
        action=AuditAction.CREATE if created else AuditAction.UPDATE,
        actor=actor,
        obj=organization,
        details={"step": "admin", "fields": sorted(changed)},
    )
    return organization


# --- organisation permissions -------------------------------------------------------------


def _check_permission(permission: str) -> None:
    if permission not in ORGANIZATION_PERMISSIONS:
        raise ValidationError(_("Unknown organisation permission: {name}.").format(name=permission))


@transaction.atomic(durable=True)
def organization_grant(
    *, actor: Any, user: Any, organization: Organization, permission: str, reason: str = ""
) -> bool:
    """Give ``user`` an organisation permission (``manage_customers`` or ``reveal_core``).

    Returns False (and records nothing) if the user already held it. The event names who gave
    what to whom (guarantee 6): the permission and the grantee's id and username.
    """
    return _grant(
        actor=actor, user=user, organization=organization, permission=permission, reason=reason
    )


def _grant(
    *, actor: Any, user: Any, organization: Organization, permission: str, reason: str
) -> bool:
    from guardian.shortcuts import assign_perm, get_user_perms

    _check_permission(permission)
    if permission in get_user_perms(user, organization):
        return False
    assign_perm(f"customers.{permission}", user, organization)
    details = {"permission": permission, "user": user.pk, "username": user.get_username()}
    if reason:
        details["reason"] = reason
    record_event(action=AuditAction.GRANT, actor=actor, obj=organization, details=details)
    return True


@transaction.atomic(durable=True)
def organization_revoke(
    *, actor: Any, user: Any, organization: Organization, permission: str, reason: str = ""
) -> bool:
    """Take an organisation permission away; False (nothing recorded) if it was not held."""
    return _revoke(
        actor=actor, user=user, organization=organization, permission=permission, reason=reason
    )


def _revoke(
    *, actor: Any, user: Any, organization: Organization, permission: str, reason: str
) -> bool:
    from guardian.shortcuts import get_user_perms, remove_perm

    _check_permission(permission)
    if permission not in get_user_perms(user, organization):
        return False
    remove_perm(f"customers.{permission}", user, organization)
    details = {"permission": permission, "user": user.pk, "username": user.get_username()}
    if reason:
        details["reason"] = reason
    record_event(action=AuditAction.REVOKE, actor=actor, obj=organization, details=details)
    return True


#: Longest reason kept with a grant or a revocation made on the access page.
ACCESS_REASON_MAX = 300


def _check_access_admin(actor: Any) -> None:
    """Giving or taking a customer book is for compliance officers and administrators."""
    if not (actor.is_active and (actor.is_superuser or actor.has_role(Role.COMPLIANCE))):
        raise PermissionDenied


def _check_grantee(user: Any, organization: Organization) -> None:
    if organization.kind != OrganizationKind.SELLER:
        raise ValidationError(_("Only a seller's customer book can be given."))
    if not user.is_active or not user.has_role(Role.BROKER) or user.has_role(Role.BUYER):
        raise ValidationError(_("A customer book is only given to an active broker."))


@transaction.atomic(durable=True)
def organization_access_grant(
    *, actor: Any, user: Any, organization: Organization, permission: str, reason: str = ""
) -> bool:
    """The access page's grant: a compliance officer or an administrator gives a broker (never
    a buyer) ``manage_customers`` or ``reveal_core`` on a seller's book.

    ``reveal_core`` needs ``manage_customers`` first: revealing is done from the record page,
    which ``manage_customers`` opens, so alone it would be a dormant grant that nobody can use
    yet every access review lists; granting both at once would give more than was asked for.
    """
    from guardian.shortcuts import get_user_perms

    _check_access_admin(actor)
    _check_permission(permission)
    _check_grantee(user, organization)
    if permission == REVEAL_CORE and MANAGE_CUSTOMERS not in get_user_perms(user, organization):
        raise ValidationError(
            _("Give “see, correct and import the book” first: revealing core fields needs it.")
        )
    return _grant(
        actor=actor,
        user=user,
        organization=organization,
        permission=permission,
        reason=reason.strip()[:ACCESS_REASON_MAX],
    )


@transaction.atomic(durable=True)
def organization_access_revoke(
    *, actor: Any, user: Any, organization: Organization, permission: str, reason: str
) -> list[str]:
    """The access page's revocation, with a reason (required, recorded in the event). Taking
    ``manage_customers`` takes ``reveal_core`` too, which could no longer be used; returns the
    permissions revoked (empty: nothing was held, nothing recorded)."""
    _check_access_admin(actor)
    _check_permission(permission)
    reason = reason.strip()[:ACCESS_REASON_MAX]
    if not reason:
        raise ValidationError(_("Say why the access is taken away."))
    order = [REVEAL_CORE, MANAGE_CUSTOMERS] if permission == MANAGE_CUSTOMERS else [REVEAL_CORE]
    return [
        name
        for name in order
        if _revoke(
            actor=actor, user=user, organization=organization, permission=name, reason=reason
        )
    ]


# --- import ---------------------------------------------------------------------------------


@dataclass
class ImportOutcome:
    """What an import did, or would have done: counts, problems, columns left out. Holds no
    personal data, so it can be stored, shown, logged and sent anywhere."""

    rows: int = 0
    customers: int = 0
    purchases: int = 0
    interactions: int = 0
    applied: bool = False
    dry_run: bool = False
    problems: list[importing.Problem] = field(default_factory=list)
    problems_truncated: bool = False
    unmapped_columns: list[str] = field(default_factory=list)
    mapped_columns: dict[str, str] = field(default_factory=dict)
    #: The first and last reference generated for a file without a reference column.
    generated_references: list[str] = field(default_factory=list)

    def add(self, problems: list[importing.Problem]) -> None:
        room = importing.MAX_PROBLEMS - len(self.problems)
        if len(problems) > room:
            self.problems_truncated = True
        self.problems.extend(problems[: max(room, 0)])

    @property
    def ok(self) -> bool:
        return not self.problems and not self.problems_truncated

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "customers": self.customers,
            "purchases": self.purchases,
            "interactions": self.interactions,
            "applied": self.applied,
            "dry_run": self.dry_run,
            "problems": [p.as_dict() for p in self.problems],
            "problems_truncated": self.problems_truncated,
            "unmapped_columns": self.unmapped_columns,
            "mapped_columns": self.mapped_columns,
            "generated_references": self.generated_references,
        }


class _Rollback(Exception):
    """Raised inside the import transaction to undo every row written so far."""


def _existing_keys(organization: Organization) -> tuple[set[str], set[str], set[str]]:
    references: set[str] = set()
    emails: set[str] = set()
    national_ids: set[str] = set()
    rows = Customer.objects.filter(organization=organization).values_list(
        "reference", "email_bidx", "national_id_bidx"
    )
    for reference, email_bidx, national_id_bidx in rows.iterator(chunk_size=5000):
        references.add(reference)
        if email_bidx:
            emails.add(email_bidx)
        if national_id_bidx:
            national_ids.add(national_id_bidx)
    return references, emails, national_ids


def next_generated_reference(organization: Organization) -> int:
    """The number the next generated reference of ``organization`` gets (``TD-000001`` is 1):
    one past the highest it holds, so a generated reference is never given twice."""
    pattern = importing.GENERATED_REFERENCE_PATTERN
    highest = (
        Customer.objects.filter(
            organization=organization,
            reference__startswith=importing.GENERATED_REFERENCE_PREFIX,
            reference__regex=rf"^{pattern.pattern}$",
        )
        .annotate(width=Length("reference"))
        .order_by("-width", "-reference")
        .values_list("reference", flat=True)
        .first()
    )
    match = pattern.fullmatch(highest or "")
    return int(match.group(1)) + 1 if match else 1


class _Writer:
    """Writes one chunk of valid rows: a data key per customer, the customer, its purchase and
    interaction, and the history rows of the last three, a few COPYs per chunk (``bulk``).
    A context manager: leaving it waits for the chunk still being written.

    Rows are built as column values, not model instances; encrypted values are made by the
    fields' own ``encrypt_for`` under each customer's data key, and the blind indexes are the
    ones the validation computed for the duplicate checks.
    """

    def __init__(self, *, organization: Organization, actor: Any) -> None:
        self.organization = organization
        actor = actor if getattr(actor, "is_authenticated", False) else None
        self.keyring = get_keyring()
        self.master = aead.Cipher(self.keyring.active_key())
        self.now = now = timezone.now()
        self.keys = bulk.Table(DataKey, given=("id", "created_at"))
        self.customers = bulk.Table(
            Customer, given=("id", "organization_id", "data_key_id", "created_at", "updated_at")
        )
        self.purchases = bulk.Table(PurchaseRecord, given=("id", "customer_id", "created_at"))
        self.interactions = bulk.Table(Interaction, given=("id", "customer_id", "created_at"))
        user_id = getattr(actor, "pk", None)
        self.histories = {
            table: bulk.HistoryTable(table, user_id=user_id, date=now)
            for table in (self.customers, self.purchases, self.interactions)
        }
        self.sink = bulk.Sink()

    def __enter__(self) -> _Writer:
        self.sink.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.sink.__exit__(*exc_info)

    def write(self, rows: list[importing.RowResult]) -> tuple[int, int, int]:
        now, organization_id = self.now, self.organization.pk
        keys: list[bulk.Row] = []
        customers: list[bulk.Row] = []
        purchases: list[bulk.Row] = []
        interactions: list[bulk.Row] = []
        master, master_id = self.master, self.keyring.active_id
        for row in rows:
            # A new data key wrapped under the active master key, bound to its row and to the
            # master key's id as ``DataKey`` wraps (and unwraps) it.
            key_id, raw = str(uuid.uuid4()), os.urandom(KEY_BYTES)
            keys.append(
                self.keys.row(
                    None,
                    {
                        "id": key_id,
                        "purpose": DataKeyPurpose.CUSTOMER.value,
                        "master_key_id": master_id,
                        "wrapped_key": master.encrypt(raw, DataKey.wrap_aad(key_id, master_id)),
                        "created_at": now,
                    },
                )
            )
            cipher = aead.Cipher(raw)  # one AES-GCM state for all of this customer's fields
            customer_id = str(uuid.uuid4())  # as text once: it goes into five AADs and 3 rows
            customers.append(
                self.customers.row(
                    cipher,
                    {
                        **row.customer,
                        "id": customer_id,
                        "organization_id": organization_id,
                        "data_key_id": key_id,
                        "email_bidx": row.email_bidx,
                        "phone_bidx": row.phone_bidx,
                        "national_id_bidx": row.national_id_bidx,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
            )
            if row.purchase is not None:
                purchases.append(
                    self.purchases.row(
                        cipher,
                        {
                            "id": str(uuid.uuid4()),
                            "customer_id": customer_id,
                            "purchased_on": row.purchase["date"],
                            "product": row.purchase["product"],
                            "amount": row.purchase["amount"],
                            "currency": row.purchase["currency"],
                            "notes": row.purchase.get("notes", ""),
                            "created_at": now,
                        },
                    )
                )
            if row.interaction is not None:
                interactions.append(
                    self.interactions.row(
                        cipher,
                        {
                            "id": str(uuid.uuid4()),
                            "customer_id": customer_id,
                            "occurred_on": row.interaction["date"],
                            "channel": row.interaction["channel"],
                            "summary": row.interaction.get("summary", ""),
                            "created_at": now,
                        },
                    )
                )
        self.sink.write(
            [
                (self.keys, keys, None),
                (self.customers, customers, self.histories[self.customers]),
                (self.purchases, purchases, self.histories[self.purchases]),
                (self.interactions, interactions, self.histories[self.interactions]),
            ]
        )
        return len(customers), len(purchases), len(interactions)


def customer_import(
    *,
    actor: Any,
    organization: Organization,
    data: bytes = b"",
    table: importing.Table | None = None,
    first_line: int = 2,
    mapping: Mapping[int, str] | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
    source: str = "upload",
    generate_references: bool = False,
    on_applied: Callable[[ImportOutcome], None] | None = None,
) -> ImportOutcome:
    """Validate every row of a customer file and, if all are valid, create them all.

    All or nothing: rows are validated and written chunk by chunk inside one durable
    transaction, and any problem anywhere rolls everything back (the rest of the file is still
    validated, so the report lists every problem at once). ``mapping`` is column index → field
    (default: the proposal from the headers); columns it leaves out are never read. With
    ``dry_run`` nothing is written. ``progress(done, total)`` is called per chunk. The IMPORT
    event carries counts and column names, never values. Never raises for bad input: a file
    that cannot be read comes back as a problem of row 0. With ``generate_references`` and no
    column mapped to the reference, each row gets the next ``TD-`` number, in file order.
    ``on_applied(outcome)`` runs inside the transaction once every row is written, so what it
    records commits with the rows or not at all (it may raise ``importing.FileError`` to undo
    the import).

    The API's upsert gives ``table`` (rows already read from its JSON body) instead of
    ``data``, and ``first_line`` 1 so that problems name the rows as its list counts them;
    everything else (validation, normalisation, writing, the event) is the file's.
    """
    outcome = ImportOutcome(dry_run=dry_run)
    if table is None:
        try:
            table = importing.open_table(data)
        except importing.FileError as exc:
            outcome.add([exc.problem()])
            return outcome
    try:
        chosen = dict(mapping) if mapping is not None else importing.propose_mapping(table.headers)
        chosen = {
            int(i): name
            for i, name in chosen.items()
            if name in importing.TARGETS_BY_NAME and 0 <= int(i) < len(table.headers)
        }
        problems = _mapping_problems(table.headers, chosen, generate_references)
        outcome.unmapped_columns = [
            h or _("column {number}").format(number=i + 1)
            for i, h in enumerate(table.headers)
            if i not in chosen
        ]
        outcome.mapped_columns = {
            table.headers[i] or str(i + 1): name for i, name in sorted(chosen.items())
        }
        if problems:
            outcome.add(problems)
            return outcome
        try:
            if dry_run:
                _run(
                    outcome,
                    table,
                    chosen,
                    organization,
                    actor,
                    None,
                    progress,
                    generate_references,
                    first_line,
                )
            else:
                with transaction.atomic(durable=True):
                    # Leaving the writer's block waits until every chunk is in the database.
                    with _Writer(organization=organization, actor=actor) as writer:
                        _run(
                            outcome,
                            table,
                            chosen,
                            organization,
                            actor,
                            writer,
                            progress,
                            generate_references,
                            first_line,
                        )
                    if not outcome.ok:
                        raise _Rollback
                    outcome.applied = True
                    record_event(
                        action=AuditAction.IMPORT,
                        actor=actor,
                        obj=organization,
                        details={
                            "source": source,
                            "rows": outcome.rows,
                            "customers": outcome.customers,
                            "purchases": outcome.purchases,
                            "interactions": outcome.interactions,
                            "fields": sorted(chosen.values()),
                            "generated_references": outcome.generated_references,
                            "unmapped_columns": len(outcome.unmapped_columns),
                        },
                    )
                    if on_applied is not None:
                        on_applied(outcome)
        except _Rollback:
            outcome.applied = False
        except importing.FileError as exc:
            outcome.applied = False
            outcome.add([exc.problem()])
        except IntegrityError:
            # Another import or edit created one of these customers meanwhile.
            outcome.applied = False
            outcome.add(
                [
                    importing.Problem(
                        importing.FILE_LEVEL,
                        "",
                        _(
                            "Another change to this customer book conflicted with the import; "
                            "nothing was imported. Try again."
                        ),
                    )
                ]
            )
    finally:
        table.close()
    if not outcome.applied:
        outcome.customers = outcome.purchases = outcome.interactions = 0
    logger.info(
        "customer import org=%s rows=%s customers=%s problems=%s applied=%s dry_run=%s",
        organization.pk,
        outcome.rows,
        outcome.customers,
        len(outcome.problems),
        outcome.applied,
        dry_run,
    )
    return outcome


def _mapping_problems(
    headers: list[str], mapping: dict[int, str], generate_references: bool = False
) -> list[importing.Problem]:
    problems: list[importing.Problem] = []
    counts: dict[str, int] = {}
    for name in mapping.values():
        counts[name] = counts.get(name, 0) + 1
    for name, count in counts.items():
        if count > 1:
            problems.append(
                importing.Problem(
                    importing.FILE_LEVEL,
                    "",
                    format_lazy(
                        _("Several columns are mapped to “{field}”; map it once."),
                        field=importing.TARGETS_BY_NAME[name].label,
                    ),
                )
            )
    if generate_references and "reference" in counts:
        problems.append(
            importing.Problem(
                importing.FILE_LEVEL,
                "",
                _("A column holds the references: map it or generate references, not both."),
            )
        )
    for target in importing.TARGETS:
        if generate_references and target.name == "reference":
            continue
        if target.required and target.name not in counts:
            problems.append(
                importing.Problem(
                    importing.FILE_LEVEL,
                    "",
                    format_lazy(
                        _("No column is mapped to “{field}”, which every customer needs."),
                        field=target.label,
                    ),
                )
            )
    return problems


def _run(
    outcome: ImportOutcome,
    table: importing.Table,
    mapping: dict[int, str],
    organization: Organization,
    actor: Any,
    writer: _Writer | None,
    progress: Callable[[int, int | None], None] | None,
    generate_references: bool = False,
    first_line: int = 2,
) -> None:
    references, emails, national_ids = _existing_keys(organization)
    first = next_generated_reference(organization) if generate_references else None
    validator = importing.RowValidator(
        headers=table.headers,
        mapping=mapping,
        region=organization.country,
        existing_references=references,
        existing_emails=emails,
        existing_national_ids=national_ids,
        first_generated_reference=first,
    )
    chunk: list[importing.RowResult] = []

    def flush() -> None:
        if writer is not None and outcome.ok and chunk:
            created = writer.write(chunk)
            outcome.customers += created[0]
            outcome.purchases += created[1]
            outcome.interactions += created[2]
        chunk.clear()
        if progress is not None:
            progress(outcome.rows, None)

    for line, row in enumerate(table.rows, start=first_line):
        if not importing._nonempty(row):
            continue
        outcome.rows += 1
        result, problems = validator.validate(line, row)
        if problems:
            outcome.add(problems)
        elif outcome.ok:
            chunk.append(result)  # type: ignore[arg-type]
        if len(chunk) >= importing.CHUNK_ROWS or outcome.rows % importing.CHUNK_ROWS == 0:
            flush()
    flush()
    if first is not None and outcome.rows:
        outcome.generated_references = [
            importing.generated_reference(first),
            importing.generated_reference(first + outcome.rows - 1),
        ]
    if outcome.rows == 0:
        outcome.add(
            [
                importing.Problem(
                    importing.FILE_LEVEL, "", _("The file has a header but no customer rows.")
                )
            ]
        )


# --- uploads (the page's import, possibly as a job) ----------------------------------------


def _upload_aad(upload: ImportUpload) -> bytes:
    return f"customers.ImportUpload|content|{upload.pk}".encode()


@transaction.atomic(durable=True)
def import_upload_create(*, actor: Any, organization: Organization, data: bytes) -> ImportUpload:
    """Keep an uploaded file, encrypted under a data key of its own, until it is imported.

    Reads the header (for the mapping step) and counts the rows (inline or job); a file that
    cannot be read raises ``ValidationError`` with the reason, and nothing is kept.
    """
    try:
        table = importing.open_table(data)
        headers = table.headers
        table.close()
        rows = importing.count_rows(data)
    except importing.FileError as exc:
        raise ValidationError(str(exc)) from None
    # The key protects customer data, hence the customer purpose; it is destroyed with the
    # upload's content once the import is over.
    key = DataKey.generate(purpose=DataKeyPurpose.CUSTOMER)
    upload = ImportUpload(
        organization=organization,
        uploaded_by=actor if getattr(actor, "is_authenticated", False) else None,
        data_key=key,
        file_format=importing.sniff_format(data),
        headers=headers,
        mapping={str(i): name for i, name in importing.propose_mapping(headers).items()},
        row_count=rows,
    )
    upload.content = aead.encrypt(key.unwrap(), _pack(data), _upload_aad(upload))
    upload.save(force_insert=True)
    return upload


#: Marks a compressed upload. No accepted file starts with NUL (XLSX starts with "PK" and a
#: text file with a NUL is refused), so uploads stored before compression still read.
_PACKED = b"\x00TDZ1"


def _pack(data: bytes) -> bytes:
    """The file compressed before it is encrypted: customer CSVs shrink five to ten times, and
    so does every copy the database driver makes of the stored value (bytea escaping turns a
    50 MB value into several hundred MB of query text on the way in)."""
    return _PACKED + zlib.compress(data, 6)


def _unpack(plaintext: bytes) -> bytes:
    if plaintext.startswith(_PACKED):
        return zlib.decompress(memoryview(plaintext)[len(_PACKED) :])
    return plaintext


def _upload_wipe(upload: ImportUpload) -> None:
    """Crypto-shred the file: its ciphertext goes, and so does the only key that opens it."""
    ImportUpload.objects.filter(pk=upload.pk).update(content=None)
    upload.content = None
    key = DataKey.objects.get(pk=upload.data_key_id)
    if not key.is_destroyed:
        key.destroy()


def _upload_expire_after() -> datetime.timedelta:
    return datetime.timedelta(hours=getattr(settings, "IMPORT_UPLOAD_EXPIRE_HOURS", 24))


def import_upload_expires_at(upload: ImportUpload) -> datetime.datetime:
    """When an upload still waiting for its mapping is destroyed unimported (the sweeper)."""
    return upload.created_at + _upload_expire_after()


def _lease() -> datetime.timedelta:
    return datetime.timedelta(seconds=getattr(settings, "IMPORT_LEASE_SECONDS", 300))


_LEASE_LOST = _(
    "The import stopped before it finished (its worker was lost); nothing was imported. "
    "Apply the mapping again."
)


def _upload_shred(
    upload_id: Any, *, statuses: list[ImportStatus], reason: str, message: Any, actor: Any = None
) -> bool:
    """Wipe one upload's file and destroy its key, if it is still in one of ``statuses`` and
    holds its file; pending uploads (not running) are marked expired with ``message``. The
    key's destruction is the audit event (``KEY_DESTROYED`` with ``reason``)."""
    from transferdesk.crypto.services import data_key_destroy

    now = timezone.now()
    with transaction.atomic():
        upload = (
            ImportUpload.objects.select_for_update()
            .filter(pk=upload_id, status__in=statuses, content__isnull=False)
            .first()
        )
        if upload is None:
            return False
        problem = importing.Problem(importing.FILE_LEVEL, "", message)
        fields: dict[str, Any] = {
            "content": None,
            "report": {**(upload.report or {}), "problems": [problem.as_dict()]},
        }
        if upload.status != ImportStatus.RUNNING:
            # A running import goes on from the copy it decrypted and records its own end (one
            # still queued finds no file and ends as expired, with this message).
            fields.update(status=ImportStatus.EXPIRED, finished_at=now, lease_expires_at=None)
        ImportUpload.objects.filter(pk=upload.pk).update(**fields)
        key = DataKey.objects.get(pk=upload.data_key_id)
        if not key.is_destroyed:
            data_key_destroy(data_key=key, actor=actor, reason=reason)
    return True


def import_uploads_expire(*, now: datetime.datetime | None = None) -> int:
    """The periodic job: uploads left unapplied longer than ``IMPORT_UPLOAD_EXPIRE_HOURS``
    (waiting for the mapping, or failed after a lost run) are wiped, their key destroyed, and
    shown as expired. Returns how many."""
    cutoff = (now or timezone.now()) - _upload_expire_after()
    pending = [ImportStatus.UPLOADED, ImportStatus.FAILED]
    ids = list(
        ImportUpload.objects.filter(
            status__in=pending, content__isnull=False, created_at__lte=cutoff
        ).values_list("pk", flat=True)
    )
    message = _("Nobody applied this upload in time: its file was destroyed unread.")
    expired = sum(
        _upload_shred(pk, statuses=pending, reason="import_upload_expired", message=message)
        for pk in ids
    )
    if expired:
        logger.info("import uploads expired: %s", expired)
    return expired


def import_uploads_shred_for_erasure(*, organization_ids: list[Any], actor: Any = None) -> int:
    """Erasure reaches the uploads: every upload of these organisations that still holds its
    file is wiped and its key destroyed, inside the erasure's transaction.

    The uploads' rows are not indexed, so which file holds the erased person is unknown; the
    safe rule is every file of the book that is still kept (waiting for the mapping, failed
    after a lost run, or running: a running import works from the copy it already decrypted,
    and its own end wipes that). The broker uploads the file again if still needed.
    """
    ids = list(
        ImportUpload.objects.filter(
            organization_id__in=organization_ids, content__isnull=False
        ).values_list("pk", flat=True)
    )
    message = _(
        "A customer of this book was erased while this file waited: the file was destroyed. "
        "Upload it again if it is still needed."
    )
    statuses = [ImportStatus.UPLOADED, ImportStatus.FAILED, ImportStatus.RUNNING]
    return sum(
        _upload_shred(pk, statuses=statuses, reason="customer_erased", message=message, actor=actor)
        for pk in ids
    )


def import_uploads_sweep(*, now: datetime.datetime | None = None) -> int:
    """The periodic sweeper: a running import whose lease expired (its worker or web process
    was killed, its message lost) is failed with the reason, nothing having been applied (the
    rows commit with the "applied" status or not at all); its file is kept, so the broker can
    apply the mapping again, until the upload expires. A job that never started is sent again
    instead. Returns how many were failed."""
    now = now or timezone.now()
    stalled = ImportUpload.objects.filter(status=ImportStatus.RUNNING).filter(
        models.Q(lease_expires_at__lt=now) | models.Q(lease_expires_at__isnull=True)
    )
    failed = 0
    fresh = now - _upload_expire_after()
    rows = stalled.values_list("pk", "job_id", "job__status", "created_at")
    for upload_id, job_id, job_status, created_at in rows:
        if job_status == JobStatus.QUEUED and created_at > fresh:
            # Never started: its message was lost (a broker down at the commit) or waits behind
            # other work. Sent again, with a new lease; a copy that runs late finds it done.
            if ImportUpload.objects.filter(
                pk=upload_id, status=ImportStatus.RUNNING, job_id=job_id
            ).update(lease_expires_at=now + _lease()):
                logger.info("import sweeper: re-enqueueing import %s, never started", upload_id)
                _enqueue_import(upload_id, job_id)
            continue
        problem = importing.Problem(importing.FILE_LEVEL, "", _LEASE_LOST)
        swept = (
            ImportUpload.objects.filter(pk=upload_id, status=ImportStatus.RUNNING)
            .filter(models.Q(lease_expires_at__lt=now) | models.Q(lease_expires_at__isnull=True))
            .update(
                status=ImportStatus.FAILED,
                finished_at=now,
                lease_expires_at=None,
                report={"problems": [problem.as_dict()]},
            )
        )
        if swept:
            failed += 1
            logger.warning("import sweeper: failed import %s, its lease expired", upload_id)
            if job_id:
                job_fail(job_id=job_id, error=str(_LEASE_LOST))
    return failed


def import_upload_set_mapping(
    *, upload: ImportUpload, mapping: Mapping[int, str], generate_references: bool = False
) -> None:
    """Record the mapping the person confirmed (column index → field), and whether the
    references are generated (a file without a reference column)."""
    upload.mapping = {str(i): name for i, name in mapping.items()}
    upload.generate_references = generate_references
    upload.save(update_fields=["mapping", "generate_references"])


def import_upload_start(*, actor: Any, upload: ImportUpload) -> Job | None:
    """Run the import now (small files) or as a job on the ``maintenance`` queue (large ones,
    ``importing.JOB_THRESHOLD_ROWS``). Returns the job, or None when it ran inline."""
    # Waiting for the mapping, or failed by the sweeper with its file kept: either can run,
    # once, and only while the file has not reached its expiry.
    now = timezone.now()
    claimed = ImportUpload.objects.filter(
        pk=upload.pk,
        status__in=[ImportStatus.UPLOADED, ImportStatus.FAILED],
        content__isnull=False,
        created_at__gt=now - _upload_expire_after(),
    ).update(status=ImportStatus.RUNNING, lease_expires_at=now + _lease(), report={})
    if not claimed:
        if ImportUpload.objects.filter(pk=upload.pk, status=ImportStatus.RUNNING).exists():
            raise ValidationError(_("This import has already been started."))
        raise ValidationError(
            _("This upload has expired and its file was destroyed; upload the file again.")
        )
    upload.status = ImportStatus.RUNNING
    if upload.row_count <= importing.JOB_THRESHOLD_ROWS:
        import_upload_run(upload_id=upload.pk, actor=actor)
        upload.refresh_from_db()
        return None
    with transaction.atomic():
        job = job_create(kind="customer_import", actor=actor, total=upload.row_count, obj=upload)
        ImportUpload.objects.filter(pk=upload.pk).update(job=job)
        upload.job = job
        transaction.on_commit(lambda: _enqueue_import(upload.pk, job.pk))
    return job


#: The largest upload the page checks while the person waits: the check reads and validates
#: every row, as the import does, without writing; a larger one is checked by a job on the
#: ``maintenance`` queue, with its progress on the page (as the import itself).
CHECK_MAX_ROWS = importing.JOB_THRESHOLD_ROWS
#: The kind of the jobs that check an upload without importing it.
CHECK_JOB = "customer_import_check"


def _checkable(upload: ImportUpload) -> ImportUpload:
    """The upload afresh, if it can still be checked (and imported); else ``ValidationError``."""
    now = timezone.now()
    current = (
        ImportUpload.objects.filter(
            pk=upload.pk,
            status__in=[ImportStatus.UPLOADED, ImportStatus.FAILED],
            content__isnull=False,
            created_at__gt=now - _upload_expire_after(),
        )
        .select_related("organization", "data_key")
        .first()
    )
    if current is None:
        raise ValidationError(
            _("This upload can no longer be checked: it was imported, started or has expired.")
        )
    return current


def import_upload_check(
    *,
    actor: Any,
    upload: ImportUpload,
    progress: Callable[[int, int | None], None] | None = None,
) -> ImportOutcome:
    """Validate a kept upload with its mapping, as the import would, and change nothing: no
    customer, no event, the upload stays at the mapping step with its file, ready to import.

    Raises ``ValidationError`` for an upload that can no longer be imported (expired, already
    started)."""
    current = _checkable(upload)
    assert current.content is not None  # ``_checkable``
    data = _unpack(
        aead.decrypt(
            current.data_key.unwrap(),
            bytes(current.content),
            _upload_aad(current),
            what=f"import {current.pk}",
        )
    )
    return customer_import(
        actor=actor,
        organization=current.organization,
        data=data,
        mapping={int(i): name for i, name in current.mapping.items()},
        dry_run=True,
        progress=progress,
        source="upload",
        generate_references=current.generate_references,
    )


def import_upload_check_start(
    *, actor: Any, upload: ImportUpload
) -> tuple[ImportOutcome | None, Job | None]:
    """Check an upload now (up to ``CHECK_MAX_ROWS`` rows: the outcome) or as a job (larger
    files: the job, whose result holds the outcome)."""
    current = _checkable(upload)
    if current.row_count <= CHECK_MAX_ROWS:
        return import_upload_check(actor=actor, upload=current), None
    with transaction.atomic():
        job = job_create(kind=CHECK_JOB, actor=actor, total=current.row_count, obj=current)
        transaction.on_commit(
            lambda: jobs.enqueue(
                "customers.tasks.customer_import_check",
                str(current.pk),
                str(job.pk),
                fail_job=job.pk,
            )
        )
    return None, job


def import_upload_check_run(*, upload_id: Any, job_id: Any) -> None:
    """The check job: validate every row with progress, store the outcome as the job's result
    (its problems in every language). A redelivered message finds the job finished."""
    job = Job.objects.filter(pk=job_id, kind=CHECK_JOB).select_related("started_by").first()
    if job is None or job.is_finished:
        return
    upload = ImportUpload.objects.select_related("organization").get(pk=upload_id)
    job_start(job_id=job.pk, total=upload.row_count)
    progress = _ProgressWriter(job.pk)
    try:
        outcome = import_upload_check(actor=job.started_by, upload=upload, progress=progress)
    except ValidationError as exc:
        job_fail(job_id=job.pk, error=" ".join(exc.messages))
        return
    except Exception:
        job_fail(job_id=job.pk, error=str(_("The check failed; nothing was changed.")))
        raise
    finally:
        progress.close()
    page = reverse("customers:import_mapping", args=[upload.organization.slug, upload.pk])
    job_progress(job_id=job.pk, done=outcome.rows)
    job_succeed(
        job_id=job.pk, result={"check": outcome.as_dict(), "open_url": f"{page}?check={job.pk}"}
    )


def import_check_job(*, user: Any, upload: ImportUpload, job_id: Any) -> Job | None:
    """The check job ``job_id`` of ``upload`` if ``user`` started it, else None."""
    try:
        return Job.objects.filter(
            pk=job_id,
            kind=CHECK_JOB,
            started_by=user,
            object_type=ImportUpload._meta.label,
            object_id=str(upload.pk),
        ).first()
    except (ValidationError, ValueError):  # not a job id
        return None


def _enqueue_import(upload_id: Any, job_id: Any) -> bool:
    """Send the import to its queue through the one bounded door; a broker that is down or
    hung is logged, not raised: the sweeper sends a job that never started again (the upload
    row, not the broker, is the truth), so no ``fail_job`` here."""
    return jobs.enqueue("customers.tasks.customer_import", str(upload_id), str(job_id))


def import_upload_run(*, upload_id: Any, actor: Any = None, job_id: Any = None) -> ImportOutcome:
    """Decrypt the upload, import it with its mapping, store the outcome, wipe the file.

    Idempotent for a redelivered task: an upload that already finished is not run again.
    The file is wiped whatever happens (success, problems or a crash), so personal data never
    outlives the import.
    """
    upload = ImportUpload.objects.select_related("organization", "data_key").get(pk=upload_id)
    stale = job_id is not None and str(upload.job_id) != str(job_id)  # an earlier run's message
    if upload.status == ImportStatus.RUNNING and upload.content is None and not stale:
        # Its file was destroyed before the run began (an erasure in this book): say so.
        ended = ImportUpload.objects.filter(pk=upload.pk, status=ImportStatus.RUNNING).update(
            status=ImportStatus.EXPIRED, finished_at=timezone.now(), lease_expires_at=None
        )
        if ended and job_id:
            job_fail(job_id=job_id, error=str(_("The file was destroyed; nothing was imported.")))
    if upload.status != ImportStatus.RUNNING or upload.content is None or stale:
        return ImportOutcome(**{k: v for k, v in upload.report.items() if k == "rows"})
    actor = actor if actor is not None else upload.uploaded_by
    ImportUpload.objects.filter(pk=upload.pk, status=ImportStatus.RUNNING).update(
        lease_expires_at=timezone.now() + _lease()
    )
    progress = _ProgressWriter(job_id, upload_id=upload.pk)

    def applied(outcome: ImportOutcome) -> None:
        # In the import's own transaction: the rows and the upload's "applied" commit together,
        # so a run that dies after its commit is never taken for a lost one, and a run the
        # sweeper already failed (its lease expired) cannot commit its rows any more.
        if not ImportUpload.objects.filter(pk=upload.pk, status=ImportStatus.RUNNING).update(
            status=ImportStatus.APPLIED,
            report=outcome.as_dict(),
            finished_at=timezone.now(),
            lease_expires_at=None,
        ):
            raise importing.FileError(_LEASE_LOST)

    try:
        data = _unpack(
            aead.decrypt(
                upload.data_key.unwrap(),
                bytes(upload.content),
                _upload_aad(upload),
                what=f"import {upload.pk}",
            )
        )
        if job_id:
            job_start(job_id=job_id, total=upload.row_count)
        outcome = customer_import(
            actor=actor,
            organization=upload.organization,
            data=data,
            mapping={int(i): name for i, name in upload.mapping.items()},
            progress=progress,
            source="upload",
            generate_references=upload.generate_references,
            on_applied=applied,
        )
        del data
    except Exception:
        if ImportUpload.objects.filter(pk=upload.pk, status=ImportStatus.RUNNING).update(
            status=ImportStatus.FAILED, finished_at=timezone.now(), lease_expires_at=None
        ):
            _upload_wipe(upload)
            if job_id:
                job_fail(job_id=job_id, error=str(_("The import failed; nothing was imported.")))
        raise
    finally:
        progress.close()
    if not outcome.applied:
        rejected = ImportUpload.objects.filter(pk=upload.pk, status=ImportStatus.RUNNING).update(
            status=ImportStatus.REJECTED,
            report=outcome.as_dict(),
            finished_at=timezone.now(),
            lease_expires_at=None,
        )
        if not rejected:
            # The sweeper failed this run meanwhile (its lease expired) and said why; the file
            # stays for another try, until it expires.
            return outcome
    _upload_wipe(upload)
    if job_id:
        counts = {
            "rows": outcome.rows,
            "customers": outcome.customers,
            "problems": len(outcome.problems),
            "applied": outcome.applied,
        }
        if outcome.applied:
            job_progress(job_id=job_id, done=outcome.rows)
            job_succeed(job_id=job_id, result=counts)
        else:
            job_fail(
                job_id=job_id,
                error=str(
                    _("{count} problems found; nothing was imported. See the error report.")
                ).format(count=len(outcome.problems)),
            )
    return outcome


class _ProgressWriter:
    """Writes a job's progress from inside the import's transaction.

    Progress written on the import's own connection would stay invisible until the commit (and
    be rolled back with a rejected file), so on PostgreSQL it goes through a second,
    autocommit connection. SQLite allows one writer at a time, so there (the embedded mode,
    where jobs run in-process and nobody polls meanwhile) progress is written at the end only.

    It is also the run's heartbeat: each chunk moves the upload's lease on (only while the
    upload is still running), so the sweeper tells a slow import from a lost one.
    """

    def __init__(self, job_id: Any, *, upload_id: Any = None) -> None:
        self.job_id = str(job_id) if job_id else None
        self.upload_id = str(upload_id) if upload_id else None
        self.connection: Any = None
        if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
            self.connection = connections.create_connection(DEFAULT_DB_ALIAS)

    def __call__(self, done: int, total: int | None = None) -> None:
        if self.connection is None:
            return
        with self.connection.cursor() as cursor:
            if self.job_id:
                cursor.execute(
                    f"UPDATE {Job._meta.db_table} SET done = %s WHERE id = %s",  # noqa: S608
                    [done, self.job_id],
                )
            if self.upload_id:
                cursor.execute(
                    f"UPDATE {ImportUpload._meta.db_table} SET lease_expires_at = %s "  # noqa: S608
                    "WHERE id = %s AND status = %s",
                    [timezone.now() + _lease(), self.upload_id, ImportStatus.RUNNING.value],
                )

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
