"""Account use cases: creating users, giving them roles, remembering their language, and
inviting people by e-mail (create, accept, revoke)."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.dispatch import Signal
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from customers.choices import OrganizationKind
from customers.models import Organization
from transferdesk.public_url import public_url
from transferdesk.trail import AuditAction, record_event

from .choices import Role
from .languages import supported
from .models import Invitation, User

logger = logging.getLogger(__name__)

#: Sent inside ``invitation_accept``'s transaction once the user exists, for a deal invitation:
#: ``transfers`` (an upper layer) listens and assigns the new user to the deal, so that the
#: account and its assignment exist together or not at all. Arguments: ``invitation``, ``user``.
invitation_accepted = Signal()


@transaction.atomic
def user_upsert(
    *,
    username: str,
    password: str,
    organization: Organization | None,
    roles: Iterable[Role],
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
) -> tuple[User, bool]:
    """Create the user or bring an existing one to exactly this state; returns (user, created)."""
    user, created = User.objects.get_or_create(username=username)
    user.organization = organization
    user.first_name, user.last_name, user.email = first_name, last_name, email
    user.is_staff, user.is_superuser, user.is_active = is_staff, is_superuser, True
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    user.groups.set(Group.objects.filter(name__in=[str(r) for r in roles]))
    return user, created


def user_set_language(*, user: User, language: str) -> bool:
    """Remember the language ``user`` chose in the switcher; returns whether it changed.

    A preference, not data about anybody: no audit event. An unsupported code is ignored
    (the switcher itself ignores it too).
    """
    if not supported(language) or user.language == language:
        return False
    return User.objects.filter(pk=user.pk).update(language=language) == 1


# --- invitations ----------------------------------------------------------------------------

#: Roles a compliance officer or an administrator invites to their own firm; buyers are only
#: invited by a deal's broker, to that deal.
STAFF_ROLES = (Role.BROKER, Role.COMPLIANCE)


class InvitationInvalid(Exception):
    """An invitation link that cannot be used; ``reason`` says why, for the page to explain:
    "unknown", "expired", "revoked", "used" or "void" (its inviter no longer on the deal)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def invitation_ttl() -> timedelta:
    return timedelta(days=getattr(settings, "INVITATION_TTL_DAYS", 7))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _broker_of(user: Any, deal: Any) -> bool:
    """Whether ``user`` may change ``deal`` (its brokers may): asked through the deal model's
    own door, so the rule stays where deals are defined."""
    return type(deal).objects.restrict(user, "change").filter(pk=deal.pk).exists()


def _may_invite_staff(user: Any) -> bool:
    return user.is_active and (user.is_superuser or user.has_role(Role.COMPLIANCE))


def _check_invitable(
    *, actor: Any, role: str, organization: Organization, deal: Any, email: str
) -> None:
    if deal is not None:
        if not _broker_of(actor, deal):
            raise PermissionDenied("only a broker of the deal invites to it")
        if role != Role.BUYER:
            raise PermissionDenied("a deal's broker invites buyers only")
        if organization.pk != deal.buyer_id:
            raise ValidationError(_("A deal's buyers belong to its buying organisation."))
    else:
        if not _may_invite_staff(actor):
            raise PermissionDenied("only compliance officers and administrators invite staff")
        if role not in STAFF_ROLES:
            raise ValidationError(_("Buyers are invited to a deal, by its broker."))
        if organization.kind != OrganizationKind.BROKER:
            raise ValidationError(_("Staff belong to the broker firm."))
    if User.objects.filter(email__iexact=email, is_active=True).exists():
        raise ValidationError(
            _("Someone with this e-mail address already has an account: assign them instead.")
        )
    pending = Invitation.objects.filter(
        email__iexact=email,
        deal=deal,
        organization=organization,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    )
    if pending.exists():
        raise ValidationError(
            _("An invitation to this address is already pending: revoke it to send a new one.")
        )


@transaction.atomic(durable=True)
def invitation_create(
    *,
    actor: Any,
    email: str,
    role: str,
    organization: Organization,
    deal: Any = None,
    language: str = "",
) -> tuple[Invitation, str]:
    """Invite ``email`` as ``role`` of ``organization`` (and, for a deal, as its buyer).

    Who may invite whom: a broker of a deal invites users of that deal's buying organisation
    to that deal; compliance officers and administrators invite staff (brokers, compliance
    officers) of the broker firm. Anything else raises ``PermissionDenied``. Returns the
    invitation and its token (which only the e-mail carries; the database keeps its hash).
    The e-mail goes out after commit, in ``language`` (else the site's default).
    """
    email = email.strip()
    _check_invitable(actor=actor, role=role, organization=organization, deal=deal, email=email)
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    invitation = Invitation(
        email=email,
        role=role,
        organization=organization,
        deal=deal,
        deal_role=role if deal is not None else "",
        language=language if supported(language) else "",
        invited_by=actor,
        token_sha256=_token_hash(token),
        created_at=now,
        expires_at=now + invitation_ttl(),
    )
    invitation.full_clean()
    invitation.save()
    record_event(
        action=AuditAction.CREATE,
        actor=actor,
        obj=invitation,
        deal=deal,
        details={
            "step": "invited",
            "role": str(role),
            "organization": organization.slug,
            "expires_at": invitation.expires_at.isoformat(),
        },
    )
    transaction.on_commit(lambda: _send_invitation(invitation.pk, token))
    return invitation, token


def invitation_url(token: str) -> str:
    return public_url(reverse("invitation_accept", kwargs={"token": token}))


def _send_invitation(invitation_pk: Any, token: str) -> None:
    invitation = Invitation.objects.select_related("organization", "deal", "invited_by").get(
        pk=invitation_pk
    )
    language = invitation.language or settings.LANGUAGE_CODE
    with translation.override(language):
        context = {"invitation": invitation, "url": invitation_url(token)}
        subject = render_to_string("accounts/invitation_email_subject.txt", context).strip()
        body = render_to_string("accounts/invitation_email.txt", context)
    try:
        EmailMessage(subject, body, to=[invitation.email]).send()
    except OSError:
        # The invitation stands and can be revoked and sent again; the mail server's failure
        # is for the administrators, with no address in the log.
        logger.exception("invitation %s: the e-mail could not be sent", invitation.pk)


def invitation_resolve(token: str) -> Invitation:
    """The invitation a link's token names if it can still be accepted, else
    ``InvitationInvalid`` with the reason."""
    if not token or len(token) > 128:
        raise InvitationInvalid("unknown")
    invitation = (
        Invitation.objects.select_related("organization", "deal", "invited_by")
        .filter(token_sha256=_token_hash(token))
        .first()
    )
    if invitation is None:
        raise InvitationInvalid("unknown")
    if invitation.accepted_at is not None:
        raise InvitationInvalid("used")
    if invitation.revoked_at is not None:
        raise InvitationInvalid("revoked")
    if invitation.expires_at <= timezone.now():
        raise InvitationInvalid("expired")
    if invitation.deal is not None and not _broker_of(invitation.invited_by, invitation.deal):
        raise InvitationInvalid("void")
    return invitation


@transaction.atomic(durable=True)
def invitation_accept(*, token: str, username: str, password: str) -> User:
    """Create the invited person's account (username of their choice, a password Django's
    validators accept, the invitation's role and organisation) and, for a deal invitation,
    assign them to the deal. The invitation is used once: a second acceptance, even at the same
    moment, raises ``InvitationInvalid("used")``."""
    invitation = invitation_resolve(token)
    username = username.strip()
    user = User(
        username=username,
        email=invitation.email,
        organization=invitation.organization,
        language=invitation.language,
    )
    user.full_clean(exclude=["password"])
    validate_password(password, user)
    # Claim the invitation first: of two acceptances at once, one updates the row.
    claimed = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).update(
        accepted_at=timezone.now()
    )
    if claimed != 1:
        raise InvitationInvalid("used")
    user.set_password(password)
    user.save()
    user.groups.set(Group.objects.filter(name=invitation.role))
    Invitation.objects.filter(pk=invitation.pk).update(accepted_user=user)
    record_event(
        action=AuditAction.CREATE,
        actor=user,
        obj=user,
        deal=invitation.deal,
        details={
            "step": "invitation_accepted",
            "invitation": str(invitation.pk),
            "invited_by": invitation.invited_by.get_username(),
            "role": invitation.role,
            "organization": invitation.organization.slug,
        },
    )
    if invitation.deal is not None:
        invitation_accepted.send(sender=Invitation, invitation=invitation, user=user)
    return user


@transaction.atomic(durable=True)
def invitation_revoke(*, actor: Any, invitation: Invitation) -> bool:
    """Withdraw a pending invitation (its link then says so); False if it was no longer
    pending (accepted, revoked or expired): nothing recorded."""
    if not Invitation.objects.restrict(actor, "change").filter(pk=invitation.pk).exists():
        raise PermissionDenied("not an invitation the actor may revoke")
    revoked = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    if revoked != 1:
        return False
    record_event(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=invitation,
        deal=invitation.deal_id,
        details={"step": "revoked", "role": invitation.role},
    )
    return True
