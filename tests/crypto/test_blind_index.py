from __future__ import annotations

import base64
import os

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from hypothesis import given
from hypothesis import strategies as st

from transferdesk.crypto import blind_index as bi


def test_emails_are_lower_cased_and_trimmed() -> None:
    assert bi.normalise_email("  Li.Wei@Example.COM ") == "li.wei@example.com"
    assert bi.blind_index(bi.EMAIL, " Li.Wei@Example.COM") == bi.blind_index(
        bi.EMAIL, "li.wei@example.com"
    )


def test_phones_in_any_format_become_e164() -> None:
    assert bi.normalise_phone("+86 138 0013 8000") == "+8613800138000"
    assert bi.normalise_phone("13800138000", "CN") == "+8613800138000"
    assert bi.normalise_phone("(020) 7946 0018", "GB") == "+442079460018"
    assert bi.blind_index(bi.PHONE, "138-0013-8000", region="CN") == bi.blind_index(
        bi.PHONE, "+86 13800138000"
    )


@pytest.mark.parametrize("bad", ["not a phone", "123", "+86 1"])
def test_a_phone_that_does_not_parse_is_a_validation_error(bad: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        bi.normalise_phone(bad, "CN")
    assert excinfo.value.code == "invalid_phone"


def test_national_ids_are_upper_cased_without_spaces() -> None:
    assert bi.normalise_national_id(" 11010519491231002x ") == "11010519491231002X"
    assert bi.normalise_national_id("ab 12 34 56 c") == "AB123456C"


def test_an_empty_value_has_no_index() -> None:
    assert bi.blind_index(bi.EMAIL, "") == ""
    assert bi.blind_index(bi.PHONE, "  ") == ""
    assert bi.blind_index(bi.NATIONAL_ID, None) == ""


def test_the_same_text_of_different_kinds_indexes_differently() -> None:
    assert bi.blind_index(bi.EMAIL, "AB123") != bi.blind_index(bi.NATIONAL_ID, "ab123")


def test_the_index_is_keyed_by_its_own_key(settings) -> None:
    before = bi.blind_index(bi.EMAIL, "a@example.com")
    assert len(before) == 64
    settings.TRANSFERDESK_BLIND_INDEX_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
    assert bi.blind_index(bi.EMAIL, "a@example.com") != before


def test_a_malformed_blind_index_key_is_a_configuration_error(settings) -> None:
    settings.TRANSFERDESK_BLIND_INDEX_KEY = "short"
    with pytest.raises(ImproperlyConfigured, match="TRANSFERDESK_BLIND_INDEX_KEY"):
        bi.blind_index(bi.EMAIL, "a@example.com")


@pytest.mark.parametrize(
    ("kind", "typed", "region"),
    [
        (bi.EMAIL, " Li.Wei@Example.COM ", None),
        (bi.PHONE, "138-0013-8000", "CN"),
        (bi.PHONE, "(020) 7946 0018", "GB"),
        (bi.NATIONAL_ID, "110105 1949 1231 002x", None),
    ],
)
def test_the_digest_of_a_normalised_value_is_the_index_of_every_spelling_of_it(
    kind: str, typed: str, region: str | None
) -> None:
    # Bulk callers (the import) normalise once while validating, then take the digest.
    normalised = bi.normalise(kind, typed, region=region)
    assert bi.digest(kind, normalised) == bi.blind_index(kind, typed, region=region)
    assert bi.digest(kind, normalised) == bi.blind_index(kind, normalised)


def test_the_digest_of_nothing_is_no_index() -> None:
    assert bi.digest(bi.EMAIL, "") == ""


def test_the_digest_follows_a_changed_key(settings) -> None:
    before = bi.digest(bi.EMAIL, "a@example.com")
    settings.TRANSFERDESK_BLIND_INDEX_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
    assert bi.digest(bi.EMAIL, "a@example.com") != before


# --- full-width input (NFKC) ---------------------------------------------------------------

#: Printable ASCII → its full-width form, as Chinese input methods type it.
_FULL_WIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)} | {" ": "\u3000"})
_ASCII = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40)


def _variant(text: str, mask: list[bool]) -> str:
    """``text`` with the characters picked by ``mask`` in full width (NFKC-equivalent)."""
    return "".join(
        ch.translate(_FULL_WIDTH) if pick else ch
        for ch, pick in zip(text, mask + [True] * len(text), strict=False)
    )


@given(_ASCII, st.lists(st.booleans()))
def test_any_full_width_variant_of_an_email_or_id_normalises_as_its_ascii_form(
    text: str, mask: list[bool]
) -> None:
    variant = _variant(text, mask)
    for kind in (bi.EMAIL, bi.NATIONAL_ID):
        assert bi.normalise(kind, variant) == bi.normalise(kind, text)


@given(
    st.text(st.sampled_from("0123456789 -()+"), min_size=1, max_size=20),
    st.lists(st.booleans()),
)
def test_any_full_width_variant_of_a_phone_normalises_as_its_ascii_form(
    text: str, mask: list[bool]
) -> None:
    def outcome(value: str) -> str:
        try:
            return bi.normalise(bi.PHONE, value, region="CN")
        except ValidationError:
            return "invalid"

    assert outcome(_variant(text, mask)) == outcome(text)


def test_a_full_width_email_has_the_blind_index_of_its_ascii_form() -> None:
    typed = "LI".translate(_FULL_WIDTH) + ".HUA@EXAMPLE.CN"
    assert bi.blind_index(bi.EMAIL, typed) == bi.blind_index(bi.EMAIL, "li.hua@example.cn")
    assert bi.normalise_national_id("11010519491231002x".translate(_FULL_WIDTH)) == (
        "11010519491231002X"
    )
