"""The password rule Django's validators leave out: no password made of the words anyone would
try first against this product (ASVS 5.0 6.1.2 and 6.2.11, "context-specific words").

The words are documented here, in one list: the product's name and its parts, its roles, and,
for a person, the words of their organisation's names. A password is refused when what is left
of it, once those words are taken out, is shorter than the minimum length: "TransferDesk2026!"
is refused, a long passphrase that happens to contain "desk" is not.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.password_validation import (
    MinimumLengthValidator,
    get_default_password_validators,
)
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

#: The words every password is checked against (lower case; the person's organisation's words
#: are added to them).
CONTEXT_WORDS = (
    "transferdesk",
    "transfer",
    "desk",
    "broker",
    "buyer",
    "seller",
    "compliance",
    "customer",
    "customers",
    "handover",
    "dataroom",
    "password",
    "admin",
)
#: Words shorter than this in an organisation's names (Ltd, SA, of) are not taken out.
SHORTEST_WORD = 4


def _min_length() -> int:
    for validator in get_default_password_validators():
        if isinstance(validator, MinimumLengthValidator):
            return validator.min_length
    return 8


def context_words(user: Any = None) -> list[str]:
    words = set(CONTEXT_WORDS)
    organization = getattr(user, "organization", None)
    if organization is not None:
        for name in (organization.slug, organization.legal_name):
            words.update(w for w in re.split(r"[\W_]+", name.casefold()) if len(w) >= SHORTEST_WORD)
    # Longest first, so that "transferdesk" goes before "transfer" and "desk".
    return sorted(words, key=len, reverse=True)


class ContextWordsValidator:
    def validate(self, password: str, user: Any = None) -> None:
        folded = rest = password.casefold()
        for word in context_words(user):
            rest = rest.replace(word, "")
        if rest == folded:
            return
        # What is left once the words, digits and punctuation ("2026!") are taken out.
        if len(re.sub(r"[\W_\d]+", "", rest)) < _min_length():
            raise ValidationError(
                _(
                    "This password is mostly the name of the product, a role or your "
                    "organisation: choose one that is harder to guess."
                ),
                code="password_context_words",
            )

    def get_help_text(self) -> str:
        return _(
            "Your password cannot be mostly the name of the product, a role or your organisation."
        )
