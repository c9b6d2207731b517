"""Sign-in plumbing (cross-cutting): sign-in events are wired to the audit trail here, and a
sign-in switches to the language the user last chose.

Django and django-axes announce sign-ins, sign-outs, failures and lockouts as signals; these
receivers turn each into an audit event. Failed attempts record the username that was typed
(an account name, so that attacks on one account can be seen), never the password.

allauth.mfa announces second factors the same way: enrolling and removing one, and using a
recovery code, are audit events; a wrong code is a failed sign-in (``user_login_failed``), so
django-axes counts it towards the lock-out exactly like a wrong password.
"""

from __future__ import annotations

from typing import Any

from allauth.account import signals as account_signals
from allauth.account.internal.flows.login import record_authentication
from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from axes.signals import user_locked_out
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.utils import translation
from django.utils.translation import gettext as _

from transferdesk.trail import AuditAction, record_event

from .devices import note_sign_in
from .middleware import SIGN_IN_LANGUAGE

USERNAME_LIMIT = 150


def _account(username: str | None) -> Any:
    """The account a typed username names, if any (to file the event under it)."""
    if not username:
        return None
    user_model = get_user_model()
    return user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()


@receiver(user_logged_in, dispatch_uid="audits_sign_in")
def record_sign_in(sender: Any, request: Any = None, user: Any = None, **_: Any) -> None:
    record_event(action=AuditAction.SIGN_IN, actor=user, obj=user)


@receiver(user_logged_in, dispatch_uid="accounts_sign_in_device")
def note_sign_in_device(sender: Any, request: Any = None, user: Any = None, **_: Any) -> None:
    """A sign-in from a browser the person never used: an e-mail (accounts/devices.py)."""
    if request is not None and user is not None:
        note_sign_in(request, user)


@receiver(user_logged_in, dispatch_uid="accounts_sign_in_language")
def apply_language_on_sign_in(sender: Any, request: Any = None, user: Any = None, **_: Any) -> None:
    """Switch this response to the user's stored language; ``SignInLanguageMiddleware`` sets
    the cookie so the following pages stay in it. No stored choice: nothing changes."""
    language = getattr(user, "language", "")
    if request is None or not language:
        return
    translation.activate(language)
    request.LANGUAGE_CODE = language
    setattr(request, SIGN_IN_LANGUAGE, language)


@receiver(account_signals.password_reset, dispatch_uid="audits_password_reset_completed")
def record_password_reset(sender: Any, request: Any = None, user: Any = None, **_: Any) -> None:
    """A new password set through the e-mail's link (accounts/password_reset.py)."""
    record_event(action=AuditAction.PASSWORD_RESET_COMPLETED, actor=user, obj=user)


@receiver(user_logged_out, dispatch_uid="audits_sign_out")
def record_sign_out(sender: Any, request: Any = None, user: Any = None, **_: Any) -> None:
    if user is not None and user.is_authenticated:
        record_event(action=AuditAction.SIGN_OUT, actor=user, obj=user)


@receiver(user_login_failed, dispatch_uid="audits_sign_in_failed")
def record_sign_in_failed(
    sender: Any, credentials: dict[str, Any] | None = None, request: Any = None, **_: Any
) -> None:
    user_model = get_user_model()
    username = str((credentials or {}).get(user_model.USERNAME_FIELD) or "")[:USERNAME_LIMIT]
    record_event(
        action=AuditAction.SIGN_IN_FAILED,
        obj=_account(username),
        details={"username": username},
    )


@receiver(user_locked_out, dispatch_uid="audits_account_locked")
def record_lockout(sender: Any, request: Any = None, username: str | None = None, **_: Any) -> None:
    username = str(username or "")[:USERNAME_LIMIT]
    record_event(
        action=AuditAction.ACCOUNT_LOCKED,
        obj=_account(username),
        details={"username": username},
    )


def _factor_details(authenticator: Any) -> dict[str, Any]:
    return {"type": str(authenticator.type), "authenticator": authenticator.pk}


@receiver(mfa_signals.authenticator_added, dispatch_uid="audits_factor_added")
def record_factor_added(
    sender: Any, request: Any = None, user: Any = None, authenticator: Any = None, **_: Any
) -> None:
    """An audit event; and the session counts as having passed that factor (the person just
    proved they hold it: a code from the app, or the passkey), so enrolment leads on to the
    page they asked for instead of asking for the factor again."""
    record_event(
        action=AuditAction.FACTOR_ADDED,
        actor=user,
        obj=user,
        details=_factor_details(authenticator),
    )
    if request is not None and authenticator.type != Authenticator.Type.RECOVERY_CODES:
        record_authentication(
            request, user, "mfa", id=authenticator.pk, type=str(authenticator.type)
        )
        if _factors(user) > 1:
            _offer_signing_out_elsewhere(request)
        # allauth sends this signal once the transaction commits, which may be after the
        # session middleware saved the session: save it here so the record is kept.
        request.session.save()


@receiver(mfa_signals.authenticator_removed, dispatch_uid="audits_factor_removed")
def record_factor_removed(
    sender: Any, request: Any = None, user: Any = None, authenticator: Any = None, **_: Any
) -> None:
    record_event(
        action=AuditAction.FACTOR_REMOVED,
        actor=user,
        obj=user,
        details=_factor_details(authenticator),
    )
    if request is not None:
        _offer_signing_out_elsewhere(request)


def _factors(user: Any) -> int:
    factors = Authenticator.objects.filter(user=user)
    return factors.exclude(type=Authenticator.Type.RECOVERY_CODES).count()


def _offer_signing_out_elsewhere(request: Any) -> None:
    """After a change of factors (not the first one enrolled), the way to end the other
    sessions (ASVS 5.0 7.4.3: a password change ends them by itself, Django's session hash)."""
    messages.info(
        request,
        _(
            "Your second factors changed. If a device was lost or someone else may know your "
            "factor, sign your other sessions out on the Sessions page (in your menu)."
        ),
    )


@receiver(mfa_signals.authenticator_used, dispatch_uid="audits_recovery_code_used")
def record_recovery_code_used(
    sender: Any, user: Any = None, authenticator: Any = None, **_: Any
) -> None:
    if authenticator is not None and authenticator.type == Authenticator.Type.RECOVERY_CODES:
        record_event(
            action=AuditAction.RECOVERY_CODE_USED,
            actor=user,
            obj=user,
            details=_factor_details(authenticator),
        )


@receiver(mfa_signals.authentication_failed, dispatch_uid="accounts_wrong_code_is_a_failed_sign_in")
def count_wrong_code(sender: Any, request: Any = None, user: Any = None, **_: Any) -> None:
    """A wrong second-factor code is a failed sign-in for the username: django-axes counts it
    (and locks out), the audit trail and the per-address back-off record it."""
    user_model = get_user_model()
    user_login_failed.send(
        sender=__name__,
        credentials={user_model.USERNAME_FIELD: getattr(user, user_model.USERNAME_FIELD, "")},
        request=request,
    )
