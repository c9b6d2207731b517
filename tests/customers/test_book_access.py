"""Giving and taking a customer book in the browser's door (the access page), not a shell:
compliance officers and administrators only, brokers only as grantees, every change audited
and listed in access reviews; hostile choices change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import get_user_perms

from audits.reviews import campaign_start, current_grants
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db


def _access(cast):
    return reverse("customers:book_access", kwargs={"slug": cast.seller.slug})


def _grant(client, cast, **data):
    return client.post(
        reverse("customers:book_access_grant", kwargs={"slug": cast.seller.slug}), data
    )


def _revoke_url(cast, user, permission):
    return reverse(
        "customers:book_access_revoke",
        kwargs={"slug": cast.seller.slug, "user_pk": user.pk, "permission": permission},
    )


def test_compliance_gives_a_broker_the_book_and_the_grant_is_audited_and_reviewed(cast, client):
    client.force_login(cast.compliance)
    response = _grant(
        client, cast, user=cast.other_broker.pk, permission="manage_customers", reason="New team"
    )
    assert response.status_code == 302
    assert set(get_user_perms(cast.other_broker, cast.seller)) == {"manage_customers"}
    event = AuditEvent.objects.get(action=AuditAction.GRANT, object_id=str(cast.seller.pk))
    assert event.actor == cast.compliance
    assert event.details["username"] == "broker2" and event.details["reason"] == "New team"
    page = client.get(_access(cast)).content.decode()
    assert "broker2" in page and "See, correct and import" in page
    rows = [
        g
        for g in current_grants()
        if g["user"] == cast.other_broker and g["permission"] == "manage_customers"
    ]
    assert rows and rows[0]["object_id"] == str(cast.seller.pk)
    campaign = campaign_start(
        actor=cast.compliance, name="Q4", deadline=timezone.now() + timedelta(days=7)
    )
    assert campaign.items.filter(user=cast.other_broker, permission="manage_customers").exists()


def test_reveal_core_needs_manage_customers_first(cast, client):
    client.force_login(cast.compliance)
    response = _grant(client, cast, user=cast.other_broker.pk, permission="reveal_core")
    assert response.status_code == 400
    assert "first" in response.content.decode()
    assert not get_user_perms(cast.other_broker, cast.seller)
    _grant(client, cast, user=cast.other_broker.pk, permission="manage_customers")
    assert (
        _grant(client, cast, user=cast.other_broker.pk, permission="reveal_core").status_code == 302
    )
    assert set(get_user_perms(cast.other_broker, cast.seller)) == {
        "manage_customers",
        "reveal_core",
    }


@pytest.mark.parametrize(
    "data",
    [
        {"user": "999999", "permission": "manage_customers"},  # unknown user
        {"user": "buyer", "permission": "manage_customers"},  # a buyer's id
        {"user": "broker2", "permission": "delete_everything"},  # unknown permission
        {"user": "<b>broker2</b>", "permission": "<script>alert(1)</script>"},  # markup
    ],
    ids=["unknown-user", "buyer", "unknown-permission", "markup"],
)
def test_hostile_grant_choices_are_refused_with_a_message_and_change_nothing(cast, client, data):
    users = {"buyer": cast.buyer.pk, "broker2": cast.other_broker.pk}
    data = {**data, "user": users.get(data["user"], data["user"])}
    client.force_login(cast.compliance)
    events = AuditEvent.objects.count()
    response = _grant(client, cast, **data)
    assert response.status_code == 400
    body = response.content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "Choose a broker from the list." in body or "Choose one of the two permissions." in body
    assert not get_user_perms(cast.buyer, cast.seller)
    assert not get_user_perms(cast.other_broker, cast.seller)
    assert AuditEvent.objects.count() == events


def test_revoking_asks_a_reason_and_takes_reveal_core_with_the_book(cast, client):
    from customers.services import organization_grant

    for permission in ("manage_customers", "reveal_core"):
        organization_grant(
            actor=cast.admin,
            user=cast.other_broker,
            organization=cast.seller,
            permission=permission,
        )
    client.force_login(cast.compliance)
    url = _revoke_url(cast, cast.other_broker, "manage_customers")
    assert client.get(url).status_code == 200
    refused = client.post(url, {"reason": "  "})
    assert refused.status_code == 400
    assert set(get_user_perms(cast.other_broker, cast.seller)) == {
        "manage_customers",
        "reveal_core",
    }
    assert client.post(url, {"reason": "Left the team"}).status_code == 302
    assert not get_user_perms(cast.other_broker, cast.seller)
    revokes = AuditEvent.objects.filter(action=AuditAction.REVOKE, object_id=str(cast.seller.pk))
    assert sorted(e.details["permission"] for e in revokes) == ["manage_customers", "reveal_core"]
    assert {e.details["reason"] for e in revokes} == {"Left the team"}
    assert not any(g["user"] == cast.other_broker for g in current_grants())
    # A grant that no longer exists: the 404 of a missing one.
    assert client.get(url).status_code == 404


def test_brokers_and_buyers_may_not_open_the_access_page_and_administrators_may(cast, client):
    for user in (cast.broker, cast.buyer):
        client.force_login(user)
        assert client.get(_access(cast)).status_code == 403
        assert _grant(client, cast, user=user.pk, permission="manage_customers").status_code == 403
    assert not get_user_perms(cast.broker, cast.seller)
    client.force_login(cast.admin)
    assert client.get(_access(cast)).status_code == 200
    assert (
        _grant(client, cast, user=cast.broker.pk, permission="manage_customers").status_code == 302
    )
    assert get_user_perms(cast.broker, cast.seller)
    # Not a seller's book: nothing to manage there.
    missing = reverse("customers:book_access", kwargs={"slug": cast.buyer_org.slug})
    assert client.get(missing).status_code == 404


def test_the_book_page_links_to_the_access_page_for_compliance_only(cast, client):
    from customers.services import organization_grant

    organization_grant(
        actor=cast.admin, user=cast.broker, organization=cast.seller, permission="manage_customers"
    )
    book = reverse("customers:customer_list", kwargs={"slug": cast.seller.slug})
    client.force_login(cast.compliance)
    assert _access(cast) in client.get(book).content.decode()
    client.force_login(cast.broker)
    assert _access(cast) not in client.get(book).content.decode()


def test_administrators_reach_the_access_page_from_the_admins_organisation_list(cast, client):
    client.force_login(cast.admin)
    listing = client.get(reverse("admin:customers_organization_changelist")).content.decode()
    assert _access(cast) in listing
    # A buyer organisation has no book to give.
    assert reverse("customers:book_access", kwargs={"slug": cast.buyer_org.slug}) not in listing


def test_the_access_page_costs_the_same_queries_for_two_grants_or_twelve(
    cast, client, django_assert_max_num_queries
):
    from accounts.choices import Role
    from customers.services import organization_grant
    from tests.factories import UserFactory

    def grant(user):
        for permission in ("manage_customers", "reveal_core"):
            organization_grant(
                actor=cast.admin, user=user, organization=cast.seller, permission=permission
            )

    grant(cast.broker)
    client.force_login(cast.compliance)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get(_access(cast)).status_code == 200
    for n in range(5):
        grant(UserFactory(username=f"extra{n}", organization=cast.broker_firm, roles=[Role.BROKER]))
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(_access(cast))
    assert page.content.decode().count("extra") >= 5
