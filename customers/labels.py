"""Words for the names of customer fields as the trail records them (``full_name``,
``purchases.notes``): incident pages, reports and notices show them to people."""

from __future__ import annotations

from collections.abc import Iterable

from .models import Customer, Interaction, PurchaseRecord


def field_labels(names: Iterable[str]) -> list[str]:
    """People-readable, translated labels of field names as access events record them
    (``full_name``, ``purchases.notes``), in a stable order."""
    related = {"purchases": PurchaseRecord, "interactions": Interaction}
    labels = []
    for name in sorted(set(names)):
        head, _sep, tail = name.partition(".")
        model = related.get(head) if tail else Customer
        try:
            field_name = tail or head
            label = str(model._meta.get_field(field_name).verbose_name)  # type: ignore[union-attr]
            if tail:
                label = f"{model._meta.verbose_name_plural}: {label}"  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - an unknown name is shown as recorded
            label = name
        labels.append(label)
    return labels
