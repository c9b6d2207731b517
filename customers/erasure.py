"""The one erasure primitive: what erasing a customer does to the customers' own rows.

Every path that destroys a customer goes through here: the retention purge and a data-subject
erasure (``audits.retention``, one chunk at a time, inside its transaction) and the restore's
re-application of the destruction ledger (``audits.backups``, on the restored database): the
history models to empty (:func:`history_models`) and the anonymisation (:func:`anonymise`). The
fields come from the tier registry, never from a list written here, so a field newly marked
sensitive or core is destroyed by all three paths at once.

This module imports only the core, accounts and customers. The runs, tombstones, legal holds
and certificates of a destruction belong to ``audits`` (above): an erasure request
(``transfers``) asks for one with :func:`customer_erase`, which sends
:data:`erasure_requested`, answered by ``audits``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.dispatch import Signal

from transferdesk.crypto.fields import BlindIndexField

from .choices import CustomerStatus, Tier
from .models import Customer, Interaction, PurchaseRecord
from .registry import fields_of

#: The models whose rows hold a customer's data, the customer first.
CUSTOMER_MODELS: tuple[type[models.Model], ...] = (Customer, PurchaseRecord, Interaction)

#: Sent by :func:`customer_erase`; ``audits`` (an upper layer) listens in its ``ready()`` and
#: erases the customer with its own run and certificate. Sent with ``send``, so its refusal
#: (a ``ValidationError``: a legal hold, an erasure already done) reaches the caller.
#: Arguments: ``customer``, ``actor``, ``request_ref``.
erasure_requested = Signal()


def customer_erase(*, actor: Any, customer: Customer, request_ref: str) -> Any:
    """Erase one customer on a data-subject request; returns what the eraser returned (the
    destruction run). Raises ``ValidationError`` when the erasure is refused."""
    answers = erasure_requested.send(
        sender=Customer, customer=customer, actor=actor, request_ref=request_ref
    )
    if not answers:
        raise ImproperlyConfigured("No eraser listens to customers.erasure.erasure_requested.")
    return answers[0][1]


def history_models() -> list[tuple[type[models.Model], str]]:
    """The history models that keep a customer's past values, each with the column naming the
    customer: erasing a customer deletes its rows in every one."""
    return [
        (model.history.model, "id" if model is Customer else "customer_id")  # type: ignore[attr-defined]
        for model in CUSTOMER_MODELS
    ]


def encrypted_fields(model: type[models.Model]) -> list[str]:
    """Every field of ``model`` the registry marks sensitive or core (all encrypted)."""
    return fields_of(model, Tier.SENSITIVE) + fields_of(model, Tier.CORE)


def _cleared(model: type[models.Model], names: Sequence[str]) -> dict[str, Any]:
    """The empty value of each field: NULL where the column allows it (encrypted columns), the
    empty string otherwise."""
    return {name: None if model._meta.get_field(name).null else "" for name in names}


def erased_reference(reference_hash: str) -> str:
    """What an anonymised customer's reference becomes: a prefix of its tombstone hash."""
    return f"ERASED-{reference_hash[:24]}"


def anonymise(ids: Sequence[Any], hashes: dict[Any, str], *, using: str = "default") -> None:
    """Keep the customers' general, statistical fields; drop everything that identifies.

    Their data keys are already destroyed: every sensitive and core column (of the customer,
    its purchases and its interactions) becomes empty, the blind indexes and the purpose of
    collection too, and the seller's reference becomes a prefix of the tombstone hash
    (``hashes``: customer id -> reference hash).
    """
    blind_indexes = [f.name for f in Customer._meta.fields if isinstance(f, BlindIndexField)]
    Customer.objects.using(using).filter(pk__in=ids).update(
        status=CustomerStatus.ERASED,
        **_cleared(Customer, ["collection_purpose", *blind_indexes, *encrypted_fields(Customer)]),
    )
    stripped = []
    for pk in ids:
        customer = Customer(pk=pk)
        customer.reference = erased_reference(hashes[pk])
        stripped.append(customer)
    Customer.objects.using(using).bulk_update(stripped, ["reference"])
    for model in CUSTOMER_MODELS[1:]:
        names = encrypted_fields(model)
        if names:
            model._default_manager.using(using).filter(customer_id__in=ids).update(
                **_cleared(model, names)
            )
