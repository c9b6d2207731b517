"""Words for the codes the trail and the access reviews store.

Events and review items keep stable codes (``transfers.transferdeal``, ``access_portal``,
``{"fields": [...]}``), which is right for evidence and wrong for a reader: pages show the
model's verbose name, the permission's own label and the details as text, in the reader's
language, and fall back to the code for anything this version no longer knows.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.apps import apps
from django.utils.text import capfirst
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

#: Django's default permissions, whose labels Django itself does not translate.
_DEFAULT_VERBS = {
    "add": _("Can add {model}"),
    "change": _("Can change {model}"),
    "delete": _("Can delete {model}"),
    "view": _("Can view {model}"),
}
#: The keys that events use most, as words.
_DETAIL_KEYS = {
    "fields": _("fields"),
    "reason": _("reason"),
    "permission": _("permission"),
    "user": _("user"),
    "step": _("step"),
    "campaign": _("campaign"),
    "decision": _("decision"),
    "object_type": _("object type"),
    "object_id": _("object id"),
    "removed": _("removed"),
    "via": _("via"),
    "deadline": _("deadline"),
    "grants": _("grants"),
}


def _model(label: str) -> Any:
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        return None


def object_type_label(label: str) -> str:
    """``transfers.transferdeal`` → "Transfer deal" (the code itself when unknown)."""
    model = _model(label)
    return str(capfirst(model._meta.verbose_name)) if model is not None else label


def permission_label(codename: str, object_type: str = "") -> str:
    """The permission's label from its model's ``Meta.permissions`` (translated), or the
    default verb with the model's name; the codename when neither knows it. Cached per
    language: a review report asks once per row."""
    return _permission_label(codename, object_type, get_language())


@lru_cache(maxsize=512)
def _permission_label(codename: str, object_type: str, _language: str | None) -> str:
    codename = codename.rsplit(".", 1)[-1]
    candidates = [_model(object_type)] if object_type else []
    candidates += [m for m in apps.get_models() if m not in candidates]
    for model in candidates:
        if model is None:
            continue
        for code, name in model._meta.permissions:
            if code == codename:
                return str(name)
    verb, _sep, model_name = codename.partition("_")
    if verb in _DEFAULT_VERBS:
        for model in candidates:
            if model is not None and model._meta.model_name == model_name:
                return str(_DEFAULT_VERBS[verb]).format(model=model._meta.verbose_name)
    return codename


def detail_pairs(details: Any) -> list[tuple[str, str]]:
    """An event's details as (word, text) pairs: lists joined, nested objects flattened,
    permission codes and model labels in words."""
    if not isinstance(details, dict):
        return [("", _text(details))] if details not in (None, "") else []
    pairs = []
    for key, value in details.items():
        if key == "permission" and isinstance(value, str):
            text = permission_label(value, str(details.get("object_type", "")))
        elif key == "object_type" and isinstance(value, str):
            text = object_type_label(value)
        else:
            text = _text(value)
        pairs.append((str(_DETAIL_KEYS.get(key, key)), text))
    return pairs


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return "" if value is None else str(value)
