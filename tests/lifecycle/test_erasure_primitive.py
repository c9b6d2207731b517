"""One erasure primitive (customers/erasure.py): the purge and the restore's re-application of
the destruction ledger destroy the same fields, every field the tier registry marks sensitive
or core, including one the registry gains later."""

from __future__ import annotations

from typing import Any

import pytest

from audits.backups import backup_run, restore, target_alias
from audits.retention import purge_policy
from customers import registry
from customers.choices import Tier
from customers.erasure import CUSTOMER_MODELS, encrypted_fields, history_models
from customers.models import Customer, Interaction
from tests.lifecycle.test_backups import _restore_url
from tests.lifecycle.test_purge import LONG_AGO

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def backup_dir(settings, tmp_path):
    settings.TRANSFERDESK_BACKUP_DIR = tmp_path / "backups"
    return settings.TRANSFERDESK_BACKUP_DIR


@pytest.fixture
def channel_sensitive(monkeypatch):
    """The registry as it would be once a field is newly marked sensitive: here the
    interaction's (plain) channel, which no erasure code names."""
    label = Interaction._meta.label
    tiers = {**registry._TIERS[label], "channel": Tier.SENSITIVE}
    monkeypatch.setitem(registry._TIERS, label, tiers)


@pytest.fixture
def full_customer(make_customer):
    """A customer with a value in every sensitive and core field the registry lists, and
    history rows."""
    customer, _ = make_customer(
        retention_until=LONG_AGO,
        phone="+86 138 0013 8000",
        preferences="Prefers calls after six",
        bank_account="CN12 3456 7890",
    )
    for model in CUSTOMER_MODELS:
        for name in encrypted_fields(model):
            filled = _rows(model, customer.pk, using="default").filter(**{f"{name}__isnull": True})
            assert not filled.exists(), f"{model.__name__}.{name} is not filled in the fixture"
    assert Customer.history.filter(id=customer.pk).exists()
    return customer


def _rows(model: type, customer_pk: Any, *, using: str) -> Any:
    key = "pk" if model is Customer else "customer_id"
    return model._default_manager.using(using).filter(**{key: customer_pk})


def _surviving(customer_pk: Any, *, using: str) -> list[str]:
    """Every registry-sensitive or core field still holding a value for this customer, and
    every history model still holding one of its rows."""
    left = []
    for model in CUSTOMER_MODELS:
        for name in encrypted_fields(model):
            empty = {f"{name}__isnull": True} if model._meta.get_field(name).null else {name: ""}
            rows = _rows(model, customer_pk, using=using)
            assert rows.exists()
            if rows.exclude(**empty).exists():
                left.append(f"{model.__name__}.{name}")
    for model, column in history_models():
        if model._default_manager.using(using).filter(**{column: customer_pk}).exists():
            left.append(model.__name__)
    return left


def test_the_purge_anonymises_every_sensitive_field(
    channel_sensitive, full_customer, contract_policy
):
    assert purge_policy(policy=contract_policy(action="anonymise")).customers == 1
    assert Customer.objects.get(pk=full_customer.pk).status == "erased"
    assert _surviving(full_customer.pk, using="default") == []


def test_the_restore_anonymises_every_sensitive_field_again(
    channel_sensitive, full_customer, contract_policy, cast, tmp_path
):
    backup = backup_run(actor=cast.compliance)  # taken while the customer is whole
    assert purge_policy(policy=contract_policy(action="anonymise")).customers == 1
    url, drop = _restore_url(tmp_path)
    try:
        outcome = restore(path=tmp_path / "backups" / backup.file_name, target_url=url)
        assert outcome.customers_removed == 1
        with target_alias(url) as alias:
            assert Customer.objects.using(alias).get(pk=full_customer.pk).status == "erased"
            assert _surviving(full_customer.pk, using=alias) == []
    finally:
        drop()
