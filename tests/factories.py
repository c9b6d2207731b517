"""factory_boy factories and the named cast of actors used by permission tests."""

from __future__ import annotations

from dataclasses import dataclass

import factory
from django.contrib.auth.models import Group

from accounts.choices import Role
from accounts.models import User
from customers.choices import OrganizationKind
from customers.models import Customer, Organization
from transferdesk.models import DataKey, DataKeyPurpose

PASSWORD = "correct horse battery staple"


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"org-{n}")
    legal_name = factory.Sequence(lambda n: f"Organisation {n} Ltd.")
    kind = OrganizationKind.SELLER
    country = "GB"


class CustomerFactory(factory.django.DjangoModelFactory):
    """A customer with its own data key; encrypted fields take plaintext and are encrypted on
    save (services are the way in for behaviour under test: ``customers.services``)."""

    class Meta:
        model = Customer

    organization = factory.SubFactory(OrganizationFactory)
    reference = factory.Sequence(lambda n: f"CUST-{n:06d}")
    data_key = factory.LazyFunction(lambda: DataKey.generate(purpose=DataKeyPurpose.CUSTOMER))
    full_name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"customer{n}@example.test")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    organization = factory.SubFactory(OrganizationFactory)
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def roles(self, create: bool, extracted: list[Role] | None, **kwargs: object) -> None:
        if create and extracted:
            # get_or_create: the role groups come from a data migration, and a transactional
            # test's flush removes them for the tests after it (on PostgreSQL, where the suite
            # empties tables instead of rolling back).
            self.groups.set([Group.objects.get_or_create(name=str(r))[0] for r in extracted])


@dataclass
class Cast:
    """Everyone a permission test needs, by the part they play."""

    broker_firm: Organization
    seller: Organization
    buyer_org: Organization
    other_buyer_org: Organization
    broker: User  # broker of the deal
    other_broker: User  # broker of another deal
    compliance: User
    buyer: User  # buyer of the deal
    other_buyer: User  # buyer of another deal
    admin: User

    def actors(self) -> dict[str, User | None]:
        return {
            "broker": self.broker,
            "other_broker": self.other_broker,
            "compliance": self.compliance,
            "buyer": self.buyer,
            "other_buyer": self.other_buyer,
            "anonymous": None,
        }


def make_cast() -> Cast:
    firm = OrganizationFactory(slug="firm", kind=OrganizationKind.BROKER, legal_name="Firm Ltd.")
    seller = OrganizationFactory(slug="seller", kind=OrganizationKind.SELLER)
    buyer_org = OrganizationFactory(slug="buyer-a", kind=OrganizationKind.BUYER)
    other_buyer_org = OrganizationFactory(slug="buyer-b", kind=OrganizationKind.BUYER)
    return Cast(
        broker_firm=firm,
        seller=seller,
        buyer_org=buyer_org,
        other_buyer_org=other_buyer_org,
        broker=UserFactory(username="broker", organization=firm, roles=[Role.BROKER]),
        other_broker=UserFactory(username="broker2", organization=firm, roles=[Role.BROKER]),
        compliance=UserFactory(username="compliance", organization=firm, roles=[Role.COMPLIANCE]),
        buyer=UserFactory(username="buyer", organization=buyer_org, roles=[Role.BUYER]),
        other_buyer=UserFactory(
            username="buyer2", organization=other_buyer_org, roles=[Role.BUYER]
        ),
        admin=UserFactory(username="admin", organization=firm, is_staff=True, is_superuser=True),
    )
