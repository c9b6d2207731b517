"""Reads of the customer vault that need the blind index.

Exact lookups by e-mail, phone and national id compute the keyed HMAC of the typed value and
compare it with the indexed column: no row is decrypted, and the database never sees the typed
value. There is deliberately no substring search on encrypted fields (names included): it
would need decrypt-and-scan, which would read every customer's data to answer one question.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from accounts.choices import Role
from transferdesk.crypto import blind_index
from transferdesk.crypto.fields import raw_ciphertext

from .choices import Tier
from .models import ACTION_PERMISSIONS, Customer, Organization
from .registry import fields_of, tier_of

#: Shown when someone tries to search by name or a fragment: why nothing can be found.
NO_SUBSTRING_SEARCH = _(
    "Names and other encrypted fields cannot be searched by fragment. Search by the exact "
    "e-mail address, phone number, national id number or reference."
)


def _by_index(
    organization: Organization, field: str, kind: str, value: str, region: str | None = None
) -> QuerySet[Customer]:
    digest = blind_index.blind_index(kind, value, region=region)
    if not digest:
        return Customer.objects.none()
    return Customer.objects.filter(organization=organization, **{field: digest})


def customer_find_by_email(*, organization: Organization, email: str) -> Customer | None:
    """The customer of ``organization`` with this e-mail (any case, surrounding spaces)."""
    return _by_index(organization, "email_bidx", blind_index.EMAIL, email).first()


def customer_find_by_phone(
    *, organization: Organization, phone: str, region: str | None = None
) -> Customer | None:
    """The customer with this phone number, typed in any format; numbers without a country
    code are read in ``region`` (default: the organisation's country). A number that cannot
    be read finds nothing rather than raising, as a search box should."""
    try:
        return _by_index(
            organization,
            "phone_bidx",
            blind_index.PHONE,
            phone,
            region or organization.country,
        ).first()
    except ValidationError:
        return None


def customer_find_by_national_id(
    *, organization: Organization, national_id: str
) -> Customer | None:
    """The customer with this national id number (any case, spaces ignored)."""
    return _by_index(organization, "national_id_bidx", blind_index.NATIONAL_ID, national_id).first()


def customer_find_by_reference(*, organization: Organization, reference: str) -> Customer | None:
    return Customer.objects.filter(organization=organization, reference=reference.strip()).first()


def customer_search(*, organization: Organization, query: str) -> QuerySet[Customer]:
    """Exact search over every searchable key: reference, e-mail, phone, national id.

    Anything else (a name, a fragment) matches nothing; show ``NO_SUBSTRING_SEARCH``.
    """
    query = query.strip()
    if not query:
        return Customer.objects.none()
    digests = {
        "email_bidx": blind_index.blind_index(blind_index.EMAIL, query),
        "national_id_bidx": blind_index.blind_index(blind_index.NATIONAL_ID, query),
    }
    with contextlib.suppress(ValidationError):  # not a phone number: search the others
        digests["phone_bidx"] = blind_index.blind_index(
            blind_index.PHONE, query, region=organization.country
        )
    # References are matched as typed and in NFKC form (typed full-width, as the import
    # stores them); the blind indexes normalise the same way themselves.
    condition = Q(reference=query) | Q(reference=blind_index.normalise_text(query))
    for column, digest in digests.items():
        condition |= Q(**{column: digest})
    return Customer.objects.filter(condition, organization=organization)


@dataclass(frozen=True)
class FieldChange:
    """One changed field of a history entry; values are None where the viewer may not see
    the field's tier (the page shows that it changed, not what it was)."""

    field: str
    label: str
    tier: str
    old: object = None
    new: object = None
    visible: bool = False


@dataclass(frozen=True)
class HistoryEntry:
    date: datetime.datetime
    user: object
    kind: str  # "+" created, "~" changed, "-" deleted
    changes: list[FieldChange] = field(default_factory=list)
    #: The change reason stored with the row (a ``CoreCorrectionReason`` code, never free
    #: text), or "".
    reason: str = ""


def customer_history_rows(*, customer: Customer) -> QuerySet[Any]:
    """The record's history rows, newest first (what the history tab pages through)."""
    return Customer.history.filter(id=customer.pk).order_by("-history_date", "-history_id")


def customer_history(
    *, customer: Customer, visible_tiers: Iterable[str], start: int = 0, stop: int | None = None
) -> list[HistoryEntry]:
    """Who changed what and when, newest first, for the record's history tab: the entries
    ``start`` to ``stop`` (a page; all by default).

    Changed fields are found by comparing ciphertext (unchanged values keep theirs), so
    nothing is decrypted to build the list; values are decrypted only for fields of
    ``visible_tiers``, and only for the entries of the page. Reading sensitive or core values
    is an access: the view that shows them records the audit event.
    """
    visible = {str(t) for t in visible_tiers}
    ordered = customer_history_rows(customer=customer).select_related("history_user", "data_key")
    # One row past the page: the last entry's changes are its difference with that row.
    rows = list(ordered[start:] if stop is None else ordered[start : stop + 1])
    last = None if stop is None or len(rows) <= stop - start else rows.pop()
    tracked = [
        name
        for tier in (Tier.GENERAL, Tier.SENSITIVE, Tier.CORE)
        for name in fields_of(Customer, tier)
    ]
    entries: list[HistoryEntry] = []
    for newer, older in zip(rows, [*rows[1:], last], strict=True):
        changes: list[FieldChange] = []
        if older is not None:
            with raw_ciphertext():
                changed = set(newer.diff_against(older, included_fields=tracked).changed_fields)
            for name in tracked:
                if name not in changed:
                    continue
                tier = str(tier_of(Customer, name))
                shown = tier in visible
                changes.append(
                    FieldChange(
                        field=name,
                        label=str(getattr(Customer._meta.get_field(name), "verbose_name", name)),
                        tier=tier,
                        old=getattr(older, name) if shown else None,
                        new=getattr(newer, name) if shown else None,
                        visible=shown,
                    )
                )
        entries.append(
            HistoryEntry(
                date=newer.history_date,
                user=newer.history_user,
                kind=newer.history_type,
                changes=changes,
                reason=newer.history_change_reason or "",
            )
        )
    return entries


# --- scoping helpers for the broker pages -------------------------------------------------


def organization_actions(*, user: Any, organization: Organization) -> frozenset[str]:
    """What ``user`` may do with the book of ``organization``, in one query: the same rules
    as ``Organization.restrict_q`` (user object permissions only, no superuser shortcut;
    compliance officers view)."""
    from guardian.shortcuts import get_user_perms

    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    held = set(get_user_perms(user, organization))
    actions = {action for action, perm in ACTION_PERMISSIONS.items() if perm in held}
    if user.has_role(Role.COMPLIANCE):
        actions.add("view")
    return frozenset(actions)


def organization_allows(*, user: Any, organization: Organization, action: str) -> bool:
    """Whether ``user`` may ``action`` the book of ``organization``."""
    return action in organization_actions(user=user, organization=organization)


def visible_tiers(actions: frozenset[str]) -> list[str]:
    """Tiers a person sees without revealing, given their ``organization_actions``: brokers
    holding ``manage_customers`` see general and sensitive fields; compliance officers,
    overseeing every book, see the general tier only (no names: "never more plaintext than a
    task needs"). Core fields need a reveal, every time."""
    if "change" in actions:
        return [Tier.GENERAL, Tier.SENSITIVE]
    return [Tier.GENERAL]


def customer_list(
    *,
    user: Any,
    organization: Organization,
    status: str = "",
    segment: str = "",
    city: str = "",
    query: str = "",
    shown: Iterable[str] = (),
) -> QuerySet[Customer]:
    """The customers of ``organization`` that ``user`` may see, filtered on general fields
    and (``query``) searched exactly through the blind index.

    Encrypted columns other than ``shown`` are not even loaded, and data keys are joined so
    that decrypting the shown ones costs no query per row.
    """
    customers = Customer.objects.with_data_keys().restrict(user, "view")
    if query:
        customers = customers.filter(
            pk__in=customer_search(organization=organization, query=query).values("pk")
        )
    customers = customers.filter(organization=organization)
    if status:
        customers = customers.filter(status=status)
    if segment:
        customers = customers.filter(segment=segment)
    if city:
        customers = customers.filter(city__iexact=city.strip())
    encrypted = [
        *fields_of(Customer, Tier.SENSITIVE),
        *fields_of(Customer, Tier.CORE),
    ]
    hidden = [name for name in encrypted if name not in set(shown)]
    return customers.defer(*hidden).order_by("reference")


def segments_of(organization: Organization) -> list[str]:
    return list(
        Customer.objects.filter(organization=organization)
        .exclude(segment="")
        .order_by("segment")
        .values_list("segment", flat=True)
        .distinct()
    )


# --- who holds a customer book ------------------------------------------------------------


@dataclass(frozen=True)
class BookGrant:
    """One standing organisation permission of a user, as the access page lists it."""

    user: Any
    permission: str
    label: str
    since: datetime.datetime | None


def organization_for_access(*, user: Any, slug: str) -> Organization | None:
    """The seller whose access a compliance officer or an administrator manages. Compliance
    reaches every book through ``restrict``; an administrator (no role, so no book to view)
    manages access to every seller's book without seeing it."""
    from .choices import OrganizationKind

    books: QuerySet[Organization] = (
        Organization.objects.filter(kind=OrganizationKind.SELLER)
        if user.is_superuser
        else Organization.objects.restrict(user, "view")
    )
    return books.filter(slug=slug).first()


def organization_grants(*, organization: Organization) -> list[BookGrant]:
    """Who holds ``manage_customers`` and ``reveal_core`` on the book, and since when (the
    latest GRANT event for that user and permission). A constant number of queries whatever
    the count."""
    from transferdesk.trail import AuditAction, AuditEvent

    from .models import ORGANIZATION_PERMISSIONS, OrganizationUserObjectPermission

    rows = (
        OrganizationUserObjectPermission.objects.filter(
            content_object=organization, permission__codename__in=ORGANIZATION_PERMISSIONS
        )
        .select_related("user", "user__organization", "permission")
        .prefetch_related("user__groups")
        .order_by("user__username", "permission__codename")
    )
    since: dict[tuple[str, str], datetime.datetime] = {}
    events = AuditEvent.objects.filter(
        action=AuditAction.GRANT,
        object_type="customers.organization",
        object_id=str(organization.pk),
    ).order_by("seq")
    for event in events.only("time", "details"):
        details = event.details or {}
        since[(str(details.get("user")), str(details.get("permission")))] = event.time
    for row in rows:
        # The roles from the prefetched groups, into the user's cached ``role_names``, so that
        # showing each person's role costs no query per row.
        row.user.__dict__["role_names"] = frozenset(g.name for g in row.user.groups.all())
    return [
        BookGrant(
            user=row.user,
            permission=row.permission.codename,
            label=row.permission.name,
            since=since.get((str(row.user_id), row.permission.codename)),
        )
        for row in rows
    ]
