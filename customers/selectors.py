"""Reads of the customer vault that need the blind index.

Exact lookups by e-mail, phone and national id compute the keyed HMAC of the typed value and
compare it with the indexed column: no row is decrypted, and the database never sees the typed
value. There is deliberately no substring search on encrypted fields (names included): it
would need decrypt-and-scan, which would read every customer's data to answer one question.
"""

from __future__ import annotations

import contextlib

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from transferdesk.crypto import blind_index

from .models import Customer, Organization

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
    condition = Q(reference=query)
    for column, digest in digests.items():
        condition |= Q(**{column: digest})
    return Customer.objects.filter(condition, organization=organization)
