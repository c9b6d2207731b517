"""Password reset by e-mail (issue 15): allauth's views and tokens, the product's rules.

- No account enumeration: the form answers "if an account has this address, a link is on its
  way" whatever the address; a link goes only to an address that has an account, and nothing
  to a stranger (``ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False``).
- Rate-limited by allauth (``ACCOUNT_RATE_LIMITS``: per client address and per typed address).
- The e-mail is made and sent by a task (``password_reset_email_send``, the account's id in,
  the token made there): the request for an address with an account does no more work than one
  for an address without, so the answer's timing tells little; and the e-mail is written in
  the account's stored language (``accounts.languages``), not the typist's.
- The link works for ``PASSWORD_RESET_TIMEOUT`` and once: allauth's token (Django's
  ``default_token_generator``) is made from the password hash, which the reset changes.
- A reset never signs the person in (``ACCOUNT_LOGIN_ON_PASSWORD_RESET = False``): the next
  sign-in asks for the second factor like every other.
- Audit events: ``password_reset_requested`` (the account, or none for an unknown address: the
  typed address itself is not kept) and ``password_reset_completed`` (accounts.signals).
"""

from __future__ import annotations

import logging
from typing import Any

from allauth.account import forms as allauth_forms
from allauth.account.adapter import get_adapter
from allauth.account.utils import user_pk_to_url_str
from django.contrib.auth import get_user_model
from django.core.validators import MaxLengthValidator
from django.db import transaction
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from transferdesk.trail import AuditAction, record_event

from .languages import user_language

logger = logging.getLogger(__name__)

#: Longer than any e-mail address (RFC 5321) or any sensible passphrase: refused with a
#: message, never looked up or hashed.
EMAIL_LIMIT = 254
PASSWORD_LIMIT = 1024


class ResetPasswordForm(allauth_forms.ResetPasswordForm):
    """allauth's "forgot your password" form, bounded, recording the request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        email = self.fields["email"]
        email.label = _("E-mail")
        email.widget.attrs.update({"autocomplete": "email", "maxlength": str(EMAIL_LIMIT)})
        email.validators.append(MaxLengthValidator(EMAIL_LIMIT))

    def save(self, request: HttpRequest, **kwargs: Any) -> str:
        email = super().save(request, **kwargs)
        with transaction.atomic():
            if not self.users:
                record_event(
                    action=AuditAction.PASSWORD_RESET_REQUESTED, details={"account": "none"}
                )
            for user in self.users:
                record_event(action=AuditAction.PASSWORD_RESET_REQUESTED, obj=user)
        return str(email)


class ResetPasswordKeyForm(allauth_forms.ResetPasswordKeyForm):
    """allauth's "choose a new password" form (the validators of AUTH_PASSWORD_VALIDATORS),
    refusing an absurdly long input before it is hashed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("password1", "password2"):
            # A field's validators run before allauth's password validators (which compare the
            # password with the account's names, and would take long on megabytes).
            self.fields[name].validators.append(
                MaxLengthValidator(
                    PASSWORD_LIMIT,
                    message=_("A password can have at most %(limit_value)s characters."),
                )
            )


def password_reset_email_send(user_id: Any) -> bool:
    """Task body: the e-mail with a fresh reset link for one account, in its language. The
    token is made here (allauth's generator, as its link page checks it), so it never passes
    through the broker."""
    user = get_user_model()._default_manager.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email:
        return False
    adapter = get_adapter()
    token = allauth_forms.default_token_generator.make_token(user)
    context = {
        "user": user,
        "username": user.get_username(),
        "password_reset_url": adapter.get_reset_password_from_key_url(
            f"{user_pk_to_url_str(user)}-{token}"
        ),
    }
    with translation.override(user_language(user)):
        message = adapter.render_mail("account/email/password_reset_key", user.email, context)
    try:
        message.send()
    except Exception:
        # Logged with no address; in the embedded mode this runs inside the request, whose
        # answer must stay the same as for an unknown address.
        logger.exception("password reset for user %s: the e-mail was not sent", user.pk)
        return False
    return True
