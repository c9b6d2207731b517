"""Invitations by e-mail: who may invite whom, the link used once before it expires, and the
invited person's page, through the same doors a person (or someone guessing links) uses."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.choices import Role
from accounts.models import Invitation, User
from accounts.services import (
    InvitationInvalid,
    invitation_accept,
    invitation_create,
    invitation_revoke,
)
from transferdesk.trail import AuditAction, AuditEvent
from transfers import services as deal_services
from transfers.models import DealAssignment

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a long and unusual passphrase 42"


@pytest.fixture(autouse=True)
def _no_rate_limit_counts():
    """The accept page's counters live in the shared cache (Redis under CI): none at start."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def deal(cast):
    return deal_services.deal_create(
        actor=cast.broker, reference="INV-1", title="Invitation deal", seller=cast.seller,
        buyer=cast.buyer_org, purposes="Service continuity", legal_basis="Contract",
    )  # fmt: skip


@pytest.fixture
def other_deal(cast):
    return deal_services.deal_create(
        actor=cast.other_broker, reference="INV-2", title="Other deal", seller=cast.seller,
        buyer=cast.other_buyer_org, purposes="Service continuity", legal_basis="Contract",
    )  # fmt: skip


def _invite_buyer(cast, deal, email="new.buyer@example.test", **extra):
    return invitation_create(
        actor=cast.broker,
        email=email,
        role=Role.BUYER,
        organization=cast.buyer_org,
        deal=deal,
        **extra,
    )


def _link(message) -> str:
    match = re.search(r"https?://\S+/invite/(\S+)/", message.body)
    assert match, message.body
    return match.group(1)


# --- who may invite whom ----------------------------------------------------------------------


def test_a_deals_broker_invites_a_buyer_and_the_mail_carries_a_link_whose_token_is_not_stored(
    cast, deal, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation, token = _invite_buyer(cast, deal, language="zh-hans")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new.buyer@example.test"]
    assert _link(message) == token
    assert "INV-1" in message.subject
    assert "受邀" in message.subject  # the invitee's chosen language
    stored = Invitation.objects.get(pk=invitation.pk)
    assert token not in stored.token_sha256 and len(stored.token_sha256) == 64
    event = AuditEvent.objects.get(action=AuditAction.CREATE, object_id=str(invitation.pk))
    assert event.deal_ref == str(deal.pk)
    assert "new.buyer@example.test" not in str(event.details)


def test_a_broker_cannot_invite_to_another_brokers_deal(cast, other_deal):
    with pytest.raises(PermissionDenied):
        invitation_create(
            actor=cast.broker,
            email="x@example.test",
            role=Role.BUYER,
            organization=cast.other_buyer_org,
            deal=other_deal,
        )
    assert not Invitation.objects.exists()


def test_a_broker_cannot_invite_staff(cast, deal):
    with pytest.raises(PermissionDenied):
        invitation_create(
            actor=cast.broker,
            email="x@example.test",
            role=Role.BROKER,
            organization=cast.broker_firm,
        )
    with pytest.raises(PermissionDenied):
        invitation_create(
            actor=cast.broker,
            email="x@example.test",
            role=Role.COMPLIANCE,
            organization=cast.buyer_org,
            deal=deal,
        )
    assert not Invitation.objects.exists()


def test_a_deal_invitation_is_for_the_deals_buying_organisation_only(cast, deal):
    with pytest.raises(ValidationError):
        invitation_create(
            actor=cast.broker,
            email="x@example.test",
            role=Role.BUYER,
            organization=cast.other_buyer_org,
            deal=deal,
        )


def test_compliance_invites_staff_but_not_buyers(cast):
    invitation, _ = invitation_create(
        actor=cast.compliance,
        email="b@example.test",
        role=Role.BROKER,
        organization=cast.broker_firm,
    )
    assert invitation.deal is None and invitation.role == Role.BROKER
    with pytest.raises(ValidationError):
        invitation_create(
            actor=cast.compliance,
            email="c@example.test",
            role=Role.BUYER,
            organization=cast.broker_firm,
        )


def test_a_buyer_cannot_invite_anyone(cast, deal):
    with pytest.raises(PermissionDenied):
        invitation_create(
            actor=cast.buyer, email="x@example.test", role=Role.BUYER, organization=cast.buyer_org,
            deal=deal,
        )  # fmt: skip


# --- accepting --------------------------------------------------------------------------------


def test_accepting_creates_the_buyer_and_assigns_them_to_the_deal_in_one_go(cast, deal):
    invitation, token = _invite_buyer(cast, deal)
    user = invitation_accept(token=token, username="newbuyer", password=NEW_PASSWORD)
    user = User.objects.get(pk=user.pk)
    assert user.has_role(Role.BUYER) and user.organization == cast.buyer_org
    assert user.check_password(NEW_PASSWORD)
    assignment = DealAssignment.objects.get(deal=deal, user=user)
    assert assignment.role == "buyer" and assignment.assigned_by == cast.broker
    grants = AuditEvent.objects.filter(
        action=AuditAction.GRANT, object_type="transfers.dealassignment"
    )
    (grant,) = [g for g in grants if g.details.get("to_username") == "newbuyer"]
    assert grant.actor == cast.broker and grant.details["role"] == "buyer"
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None and invitation.accepted_user == user


def test_a_used_invitation_cannot_be_used_again(cast, deal):
    _, token = _invite_buyer(cast, deal)
    invitation_accept(token=token, username="first", password=NEW_PASSWORD)
    with pytest.raises(InvitationInvalid) as refused:
        invitation_accept(token=token, username="second", password=NEW_PASSWORD)
    assert refused.value.reason == "used"
    assert not User.objects.filter(username="second").exists()


def test_an_expired_invitation_cannot_be_used(cast, deal):
    invitation, token = _invite_buyer(cast, deal)
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(InvitationInvalid) as refused:
        invitation_accept(token=token, username="late", password=NEW_PASSWORD)
    assert refused.value.reason == "expired"
    assert not User.objects.filter(username="late").exists()


def test_a_revoked_invitation_cannot_be_used(cast, deal):
    invitation, token = _invite_buyer(cast, deal)
    assert invitation_revoke(actor=cast.broker, invitation=invitation)
    with pytest.raises(InvitationInvalid) as refused:
        invitation_accept(token=token, username="gone", password=NEW_PASSWORD)
    assert refused.value.reason == "revoked"
    assert AuditEvent.objects.filter(
        action=AuditAction.UPDATE, object_id=str(invitation.pk)
    ).exists()


def test_another_brokers_cannot_revoke_an_invitation(cast, deal):
    invitation, _ = _invite_buyer(cast, deal)
    with pytest.raises(PermissionDenied):
        invitation_revoke(actor=cast.other_broker, invitation=invitation)
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_an_invitation_whose_broker_left_the_deal_is_void(cast, deal):
    _, token = _invite_buyer(cast, deal)
    broker_assignment = DealAssignment.objects.get(deal=deal, user=cast.broker, role="broker")
    deal_services.deal_unassign(actor=cast.compliance, assignment=broker_assignment)
    with pytest.raises(InvitationInvalid) as refused:
        invitation_accept(token=token, username="orphan", password=NEW_PASSWORD)
    assert refused.value.reason == "void"


def test_a_weak_password_or_a_taken_username_creates_nothing(cast, deal):
    _, token = _invite_buyer(cast, deal)
    with pytest.raises(ValidationError):
        invitation_accept(token=token, username="weak", password="password")
    with pytest.raises(ValidationError):
        invitation_accept(token=token, username=cast.buyer.username, password=NEW_PASSWORD)
    assert not User.objects.filter(username="weak").exists()
    assert Invitation.objects.get().accepted_at is None


# --- the pages --------------------------------------------------------------------------------


def test_the_broker_invites_from_the_deal_page_and_the_invited_buyer_lands_on_the_nda(
    cast, deal, client, django_capture_on_commit_callbacks
):
    client.force_login(cast.broker)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("transfers:deal_invite", kwargs={"pk": deal.pk}),
            {"email": "li.hua@example.test", "language": "en"},
        )
    assert response.status_code == 302
    token = _link(mail.outbox[0])
    client.logout()
    page = client.get(reverse("invitation_accept", kwargs={"token": token}))
    assert page.status_code == 200
    assert "INV-1" in page.content.decode() and cast.broker.display_name in page.content.decode()
    response = client.post(
        reverse("invitation_accept", kwargs={"token": token}),
        {"username": "lihua", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:nda", kwargs={"deal_pk": deal.pk})
    assert DealAssignment.objects.filter(deal=deal, user__username="lihua").exists()
    again = client.get(reverse("invitation_accept", kwargs={"token": token}))
    assert again.status_code == 410
    assert "already been used" in again.content.decode()
    assert "INV-1" not in again.content.decode()


def test_the_accept_page_refuses_markup_mismatched_passwords_and_guessed_links(cast, deal, client):
    _, token = _invite_buyer(cast, deal)
    url = reverse("invitation_accept", kwargs={"token": token})
    response = client.post(
        url,
        {"username": "<script>x</script>", "password1": NEW_PASSWORD, "password2": "other"},
    )
    assert response.status_code == 400
    assert "<script>x</script>" not in response.content.decode()
    assert User.objects.filter(organization=cast.buyer_org).count() == 1
    guessed = client.get(reverse("invitation_accept", kwargs={"token": "A" * 43}))
    assert guessed.status_code == 404
    assert "cannot be used" in guessed.content.decode()


def test_the_accept_page_is_rate_limited_per_address(cast, deal, client, settings):
    settings.INVITATION_RATE_LIMIT_PER_ADDRESS = 3
    url = reverse("invitation_accept", kwargs={"token": "guess"})
    statuses = [client.get(url, REMOTE_ADDR="198.51.100.7").status_code for _ in range(4)]
    assert statuses == [404, 404, 404, 429]
    # Another address is not held up by the first one's guesses.
    assert client.get(url, REMOTE_ADDR="198.51.100.8").status_code == 404


def test_behind_the_proxy_the_limit_counts_each_client_not_the_proxy(cast, client, settings):
    settings.INVITATION_RATE_LIMIT_PER_ADDRESS = 3
    settings.TRUSTED_PROXIES = ["10.0.0.2"]
    url = reverse("invitation_accept", kwargs={"token": "guess"})

    def through_proxy(client_address: str) -> int:
        return client.get(
            url, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=client_address
        ).status_code

    assert [through_proxy("198.51.100.7") for _ in range(4)] == [404, 404, 404, 429]
    assert through_proxy("198.51.100.8") == 404


def test_compliance_invites_a_broker_from_the_staff_page_and_revokes_it(
    cast, client, django_capture_on_commit_callbacks
):
    client.force_login(cast.compliance)
    url = reverse("accounts:staff_invitations")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url, {"email": "staff@example.test", "language": "en", "role": "broker"}
        )
    assert response.status_code == 302
    invitation = Invitation.objects.get(email="staff@example.test")
    assert invitation.organization == cast.broker_firm and invitation.role == "broker"
    assert "staff@example.test" in client.get(url).content.decode()
    bad = client.post(url, {"email": "x@example.test", "language": "en", "role": "buyer"})
    assert bad.status_code == 400
    assert not Invitation.objects.filter(email="x@example.test").exists()
    client.post(reverse("accounts:invitation_revoke", kwargs={"pk": invitation.pk}))
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None


def test_the_admin_lists_invitations_without_their_token_hash_and_cannot_edit_them(
    cast, deal, client
):
    invitation, _ = _invite_buyer(cast, deal)
    client.force_login(cast.admin)
    listing = client.get(reverse("admin:accounts_invitation_changelist"))
    assert listing.status_code == 200 and "new.buyer@example.test" in listing.content.decode()
    detail = client.get(reverse("admin:accounts_invitation_change", args=[invitation.pk]))
    assert detail.status_code == 200
    assert invitation.token_sha256 not in detail.content.decode()
    assert client.get(reverse("admin:accounts_invitation_add")).status_code == 403


@pytest.mark.postgres
def test_two_people_accepting_one_invitation_at_once_create_one_account(transactional_db):
    """Two browsers post the same link at the same moment (on PostgreSQL, two connections):
    one account is created, the other attempt is told the invitation was used."""
    import threading

    from django.contrib.auth.models import Group
    from django.db import connections

    from tests.factories import make_cast

    for role in Role:
        Group.objects.get_or_create(name=role.value)
    cast = make_cast()
    deal = deal_services.deal_create(
        actor=cast.broker, reference="RACE-1", title="Race", seller=cast.seller,
        buyer=cast.buyer_org, purposes="Service continuity", legal_basis="Contract",
    )  # fmt: skip
    _, token = _invite_buyer(cast, deal)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def accept(username: str) -> None:
        try:
            barrier.wait()
            invitation_accept(token=token, username=username, password=NEW_PASSWORD)
            outcomes.append("created")
        except InvitationInvalid as exc:
            outcomes.append(exc.reason)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=accept, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created", "used"]
    assert User.objects.filter(username__in=["first", "second"]).count() == 1
    assert (
        DealAssignment.objects.filter(deal=deal, role="buyer").exclude(user=cast.buyer).count() == 1
    )


def test_the_deal_page_refuses_a_hostile_invitation_with_a_message_and_creates_nothing(
    cast, deal, client
):
    client.force_login(cast.broker)
    response = client.post(
        reverse("transfers:deal_invite", kwargs={"pk": deal.pk}),
        {"email": "<script>alert(1)</script>", "language": "xx"},
        follow=True,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "Enter a valid email address." in body
    assert not Invitation.objects.exists()


@pytest.mark.parametrize("reason", ["expired", "revoked"])
def test_an_expired_or_revoked_link_says_so_and_shows_nothing_of_the_invitation(
    cast, deal, client, reason
):
    invitation, token = _invite_buyer(cast, deal)
    if reason == "expired":
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())
    else:
        invitation_revoke(actor=cast.broker, invitation=invitation)
    url = reverse("invitation_accept", kwargs={"token": token})
    for response in (
        client.get(url),
        client.post(url, {"username": "x", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}),
    ):
        assert response.status_code == 410
        body = response.content.decode()
        assert {"expired": "has expired", "revoked": "was withdrawn"}[reason] in body
        assert "INV-1" not in body and "new.buyer@example.test" not in body
    assert not User.objects.filter(username="x").exists()
