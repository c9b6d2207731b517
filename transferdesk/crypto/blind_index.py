"""Blind indexes: exact search on encrypted values without decrypting anything.

A blind index is a keyed HMAC-SHA256 of a normalised value, under its own key
(``TRANSFERDESK_BLIND_INDEX_KEY``, never a master key), so the database can answer "which
customer has this e-mail" while holding neither the e-mail nor anything a dictionary attack
could reverse without the key. Normalising first makes "Li.Wei@Example.com " and
"li.wei@example.com" the same search; the kind is part of the HMAC input, so equal strings of
different kinds never collide.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from cryptography.hazmat.primitives import hashes, hmac
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .keyring import decode_key

SETTING = "TRANSFERDESK_BLIND_INDEX_KEY"
DIGEST_HEX_LENGTH = 64

EMAIL = "email"
PHONE = "phone"
NATIONAL_ID = "national_id"


def normalise_email(value: str) -> str:
    return value.strip().lower()


def normalise_phone(value: str, region: str | None = None) -> str:
    """E.164 (``+8613800138000``); ``region`` reads numbers written without a country code."""
    try:
        number = phonenumbers.parse(value, (region or "").upper() or None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("This is not a valid phone number (add the country code, e.g. +44)."),
            code="invalid_phone",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_national_id(value: str) -> str:
    return "".join(value.split()).upper()


_ID_CHARACTERS = re.compile(r"[A-Z0-9-]+")
_CN_RESIDENT_ID = re.compile(r"\d{17}[\dX]")
_CN_RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def cn_resident_id_ok(value: str) -> bool:
    """The ISO 7064 MOD 11-2 check character of an 18-character Chinese resident id."""
    total = sum(
        int(digit) * weight
        for digit, weight in zip(value[:17], _CN_RESIDENT_ID_WEIGHTS, strict=True)
    )
    return "10X98765432"[total % 11] == value[17]


def clean_national_id(value: str, country: str | None = None) -> str:
    """A national id number as it is stored and indexed: upper-case without spaces (as
    ``normalise_national_id``), letters, digits and hyphens only, and, for an organisation in
    China, an 18-character resident id with a matching check character. Raises
    ``ValidationError`` otherwise; messages never repeat the value.

    One rule for every way a number comes in (the core-field correction, the import)."""
    value = normalise_national_id(value)
    if not _ID_CHARACTERS.fullmatch(value):
        raise ValidationError(
            _("An id number holds letters, digits and hyphens only."), code="invalid_id"
        )
    if country == "CN" and _CN_RESIDENT_ID.fullmatch(value) and not cn_resident_id_ok(value):
        raise ValidationError(
            _(
                "The check character of this resident id number does not match: "
                "a digit was probably mistyped."
            ),
            code="invalid_check_character",
        )
    return value


NORMALISERS = {EMAIL: normalise_email, NATIONAL_ID: normalise_national_id}


def normalise(kind: str, value: str, *, region: str | None = None) -> str:
    if kind == PHONE:
        return normalise_phone(value, region)
    return NORMALISERS[kind](value)


@lru_cache(maxsize=4)
def _keyed(raw: str) -> hmac.HMAC:
    """An HMAC context holding only the key (never finalised): each index starts from a copy,
    which costs a quarter of setting the key up again."""
    return hmac.HMAC(decode_key(raw.strip(), what=SETTING), hashes.SHA256())


def blind_index(kind: str, value: str | None, *, region: str | None = None) -> str:
    """Hex HMAC of the normalised value; ``""`` for an empty value (nothing to find)."""
    if value is None or not str(value).strip():
        return ""
    return digest(kind, normalise(kind, str(value), region=region))


def digest(kind: str, normalised: str) -> str:
    """Hex HMAC of a value that is already in its normal form (``normalise(kind, ...)``).

    For callers that normalised the value anyway (the import validates every phone number by
    parsing it into E.164): the HMAC is taken without normalising, and so without parsing, a
    second time. A value not in normal form gives an index that no search will ever match,
    so pass only what ``normalise`` returned.
    """
    if not normalised:
        return ""
    mac = _keyed(getattr(settings, SETTING, "") or "").copy()
    mac.update(f"{kind}\x00{normalised}".encode())
    return mac.finalize().hex()
