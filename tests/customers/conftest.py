"""Fixtures of the vault tests: a seller organisation in China and a way to make customers
through the real service (data key, encryption, blind indexes, history, audit event)."""

from __future__ import annotations

import base64
import itertools
import os
from collections.abc import Callable
from typing import Any

import pytest

from customers.choices import OrganizationKind
from customers.models import Customer, Organization
from customers.services import customer_create
from tests.factories import OrganizationFactory

_refs = itertools.count(1)


def random_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@pytest.fixture
def seller(db: None) -> Organization:
    return OrganizationFactory(
        slug="meridian-vault", kind=OrganizationKind.SELLER, country="CN", legal_name="Meridian"
    )


@pytest.fixture
def make_customer(seller: Organization) -> Callable[..., Customer]:
    def make(organization: Organization | None = None, **values: Any) -> Customer:
        n = next(_refs)
        values.setdefault("reference", f"C-{n:05d}")
        values.setdefault("full_name", f"Customer {n}")
        return customer_create(actor=None, organization=organization or seller, values=values)

    return make
