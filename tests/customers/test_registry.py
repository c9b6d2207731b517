from __future__ import annotations

import pytest

from customers import registry
from customers.choices import Tier
from customers.models import Customer, Interaction, PurchaseRecord
from transferdesk.crypto.fields import EncryptedField


def test_each_tier_lists_the_fields_of_the_issue():
    assert registry.fields_of(Customer, Tier.SENSITIVE) == [
        "full_name",
        "email",
        "phone",
        "postal_address",
        "preferences",
    ]
    assert registry.fields_of(Customer, Tier.CORE) == [
        "national_id",
        "bank_account",
        "special_category_notes",
    ]
    assert "status" in registry.fields_of(Customer, Tier.GENERAL)
    assert registry.fields_of(PurchaseRecord, Tier.SENSITIVE) == ["notes"]
    assert registry.fields_of(Interaction, Tier.SENSITIVE) == ["summary"]
    assert registry.tier_of(Customer, "national_id") == Tier.CORE
    assert registry.tier_of(Customer, "email_bidx") is None


@pytest.mark.parametrize("model", [Customer, PurchaseRecord, Interaction])
def test_every_field_is_classified_exactly_once(model):
    classified = [name for tier in Tier for name in registry.fields_of(model, tier)]
    declared = [*classified, *registry.bookkeeping_fields(model)]
    assert sorted(declared) == sorted(f.name for f in model._meta.concrete_fields)


@pytest.mark.parametrize("model", [Customer, PurchaseRecord, Interaction])
def test_sensitive_and_core_fields_are_exactly_the_encrypted_ones(model):
    encrypted = {f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedField)}
    assert encrypted == {
        *registry.fields_of(model, Tier.SENSITIVE),
        *registry.fields_of(model, Tier.CORE),
    }


def test_core_fields_have_their_own_permission():
    assert tuple(p[0] for p in Customer._meta.permissions) == ("view_core_fields",)


def test_registering_a_clear_field_as_sensitive_is_refused():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="must be encrypted"):
        registry.register(Interaction, sensitive=["channel"])
    # the failed declaration changed nothing
    assert registry.fields_of(Interaction, Tier.SENSITIVE) == ["summary"]
