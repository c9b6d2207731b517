"""Blind indexes: exact search on encrypted values without decrypting anything.

A blind index is a keyed HMAC-SHA256 of a normalised value, under its own key
(``TRANSFERDESK_BLIND_INDEX_KEY``, never a master key), so the database can answer "which
customer has this e-mail" while holding neither the e-mail nor anything a dictionary attack
could reverse without the key. Normalising first makes "Li.Wei@Example.com " and
"li.wei@example.com" the same search; the kind is part of the HMAC input, so equal strings of
different kinds never collide.

Every normaliser starts with NFKC (``normalise_text``): Chinese input methods type full-width
letters and digits (U+FF21 for "A", U+FF11 for "1"), which must validate, be stored and be
found exactly as their ASCII twins. The import, the record forms, the search box and the
customer's own requests all go through these functions, so no path can index a variant.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
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


def normalise_text(value: str) -> str:
    """Unicode NFKC: full-width letters, digits and signs (and the ideographic space) become
    their ASCII forms; anything already in normal form is returned unchanged (ASCII is)."""
    return unicodedata.normalize("NFKC", value)


def normalise_email(value: str) -> str:
    return normalise_text(value).strip().lower()


def normalise_phone(value: str, region: str | None = None) -> str:
    """E.164 (``+8613800138000``); ``region`` reads numbers written without a country code."""
    try:
        number = phonenumbers.parse(normalise_text(value), (region or "").upper() or None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("This is not a valid phone number (add the country code, e.g. +44)."),
            code="invalid_phone",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_national_id(value: str) -> str:
    return "".join(normalise_text(value).split()).upper()


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


def _cn_birth_date_ok(digits: str) -> bool:
    """Characters 7 to 14 of a resident id: a date of birth (YYYYMMDD) from 1900 to today."""
    try:
        born = datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return False
    return datetime.date(1900, 1, 1) <= born <= datetime.date.today()


def clean_national_id(value: str, country: str | None = None) -> str:
    """A national id number as it is stored and indexed: upper-case without spaces (as
    ``normalise_national_id``, NFKC included), letters, digits and hyphens only, and, for an
    organisation in China, an 18-character resident id (a real date of birth, a matching
    check character). Raises ``ValidationError`` otherwise; messages never repeat the value.

    One rule for every way a number comes in (the core-field correction, the import)."""
    value = normalise_national_id(value)
    if not _ID_CHARACTERS.fullmatch(value):
        raise ValidationError(
            _("An id number holds letters, digits and hyphens only."), code="invalid_id"
        )
    if country != "CN":
        return value
    # First-generation 15-digit numbers are refused: those cards ceased to be valid on
    # 1 January 2013, and their holders' numbers are the 18-character ones (a 15-digit
    # number in a current export is a stale record to be corrected at the source).
    if not _CN_RESIDENT_ID.fullmatch(value):
        raise ValidationError(
            _("A resident id number in China has 18 characters: 17 digits and a final digit or X."),
            code="invalid_resident_id",
        )
    if not _cn_birth_date_ok(value[6:14]):
        raise ValidationError(
            _("The date of birth inside this resident id number is not a real date."),
            code="invalid_resident_id_date",
        )
    if not cn_resident_id_ok(value):
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
