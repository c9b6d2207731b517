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
from .usersessions import end_user_sessions

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


# --- the Django admin ------------------------------------------------------------------------

#: Flags of a user that give power: turning one on is a grant, turning it off a revocation.
POWER_FLAGS = ("is_staff", "is_superuser")


def _m2m_events(*, actor: Any, user: User, kind: str, before: set[str], after: set[str]) -> None:
    for name in sorted(after - before):
        record_event(
            action=AuditAction.GRANT, actor=actor, obj=user, details={"step": "admin", kind: name}
        )
    for name in sorted(before - after):
        record_event(
            action=AuditAction.REVOKE, actor=actor, obj=user, details={"step": "admin", kind: name}
        )


def _permission_names(permissions: Iterable[Any]) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in permissions}


@transaction.atomic  # not durable: the Django admin calls it inside its own transaction
def user_admin_save(
    *,
    actor: Any,
    user: User,
    changed: Iterable[str],
    created: bool,
    groups: Iterable[Group] | None = None,
    permissions: Iterable[Any] | None = None,
) -> User:
    """Create or change a user from the Django admin, with the events the trail needs.

    One CREATE or UPDATE event naming the fields changed (never their values); a GRANT or a
    REVOKE for each role (group), global permission and power flag (staff, superuser) given
    or taken (guarantee 6: who gave what to whom). ``groups`` and ``permissions``, when
    given, are the user's new sets: the admin's form leaves them to this function.
    """
    previous = None if created else User.objects.filter(pk=user.pk).first()
    before_groups = set(previous.groups.values_list("name", flat=True)) if previous else set()
    before_perms = (
        _permission_names(previous.user_permissions.select_related("content_type"))
        if previous
        else set()
    )
    user.save()
    password_fields = {"password1", "password2", "usable_password"}
    fields = sorted(
        {"password" if name in password_fields else name for name in changed}
        - {"groups", "user_permissions"}
    )
    record_event(
        action=AuditAction.CREATE if created else AuditAction.UPDATE,
        actor=actor,
        obj=user,
        details={"step": "admin", "fields": fields},
    )
    for flag in POWER_FLAGS:
        was, now = bool(previous and getattr(previous, flag)), bool(getattr(user, flag))
        if was != now:
            record_event(
                action=AuditAction.GRANT if now else AuditAction.REVOKE,
                actor=actor,
                obj=user,
                details={"step": "admin", "flag": flag},
            )
    if groups is not None:
        groups = list(groups)
        user.groups.set(groups)
        _m2m_events(
            actor=actor,
            user=user,
            kind="role",
            before=before_groups,
            after={g.name for g in groups},
        )
    if permissions is not None:
        permissions = list(permissions)
        user.user_permissions.set(permissions)
        _m2m_events(
            actor=actor,
            user=user,
            kind="permission",
            before=before_perms,
            after=_permission_names(permissions),
        )
    user.__dict__.pop("role_names", None)  # the cached roles are stale now
    if previous is not None and previous.is_active and not user.is_active:
        # A deactivated account is signed out everywhere at once (ASVS 5.0 7.4.2), not only
        # refused at its next request.
        end_user_sessions(actor=actor, user=user, reason="deactivated")
    return user


@transaction.atomic  # not durable: called inside the admin's own transaction
def user_admin_password_set(*, actor: Any, user: Any) -> None:
    """Record that an administrator set ``user``'s password in the Django admin. Django's
    password form saves the new hash itself; the admin calls this in the same transaction,
    so the new password and its event exist together or not at all."""
    record_event(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=user,
        details={"step": "admin", "fields": ["password"]},
    )


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


# --- second-factor policy of buyer organisations ---------------------------------------------


@transaction.atomic
def buyer_second_factor_set(*, actor: Any, organization: Organization, required: bool) -> bool:
    """Compliance decides whether a buyer organisation's users must sign in with a second
    factor (accounts.mfa.second_factor_required); False if nothing changed (nothing recorded).
    Staff organisations always require one: the setting is only for buyers."""
    if not (actor.is_superuser or actor.has_role(Role.COMPLIANCE)):
        raise PermissionDenied("only compliance sets the second-factor policy")
    if organization.kind != OrganizationKind.BUYER:
        raise ValidationError(_("Only a buyer organisation's policy can be changed."))
    changed = (
        Organization.objects.filter(pk=organization.pk)
        .exclude(second_factor_required=required)
        .update(second_factor_required=required)
    )
    if not changed:
        return False
    organization.second_factor_required = required
    record_event(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=organization,
        details={"second_factor_required": required},
    )
    return True
