"""Template filters of the transfers pages: the labels of stored choice values.

Stages store their tier scope and previews as raw values (JSON that outlives a change of
wording or language); the pages show the labels of the current language.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template

from customers.choices import Tier
from transfers.choices import choice_label

register = template.Library()


@register.filter
def tier_label(value: Any) -> str:
    """The label of one tier value."""
    return choice_label(Tier, value)


@register.filter
def tier_labels(values: Iterable[Any] | None) -> str:
    """The labels of a tier scope, comma-separated, in the stored order."""
    return ", ".join(choice_label(Tier, value) for value in values or ())
