"""Sign-ins from a new device (issue 15): an e-mail to the person, and an audit event.

Each browser gets a long-lived signed cookie with a random id on its first sign-in; the user's
``KnownDevice`` rows hold the SHA-256 of the ids their sign-ins came with. A sign-in whose
browser has no id, a forged or foreign one, or one this user never signed in with, is from a
new device: the device is remembered, an audit event is recorded, and an e-mail in the user's
language names the browser, the address and the time, with links to change the password.

The very first sign-in of an account (no device known yet: the invitation's own sign-in, or
the first since this feature exists) sends nothing: there is nothing to compare with, and the
person has just chosen the password. A sign-in with no client at all (the test client's
``force_login``, a shell: no ``REMOTE_ADDR``) has no device and is skipped.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from transferdesk.clientip import client_ip
from transferdesk.jobs import enqueue
from transferdesk.public_url import public_url
from transferdesk.trail import AuditAction, record_event

from .languages import user_language
from .models import KnownDevice

logger = logging.getLogger(__name__)

COOKIE = "td_device"
SALT = "accounts.devices"
#: Browsers keep a cookie at most 400 days; each sign-in renews it.
COOKIE_AGE = 400 * 24 * 60 * 60
#: Set on the request by ``note_sign_in``: the id for ``DeviceCookieMiddleware`` to write.
DEVICE_TO_SET = "_device_id_to_set"
_ID = re.compile(r"[A-Za-z0-9_-]{43}")


def device_id(request: HttpRequest) -> str | None:
    """The id this browser's cookie carries, if the cookie is ours and unaltered."""
    value = request.get_signed_cookie(COOKIE, default=None, salt=SALT)
    return value if value and _ID.fullmatch(value) else None


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# The order matters: Edge and Opera name Chrome too, Chrome names Safari, and Android names
# Linux, iOS names "like Mac OS X".
_BROWSERS = [
    ("Edg", "Edge"),
    ("OPR", "Opera"),
    ("Firefox", "Firefox"),
    ("Chromium", "Chromium"),
    ("Chrome", "Chrome"),
    ("Safari", "Safari"),
]
_SYSTEMS = [
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
]


def summarise_user_agent(user_agent: str) -> str:
    """ "Firefox · Linux" from a user-agent string ("?" for a part it does not name): names
    that need no translation, and no more of the string than the e-mail shows."""
    browser = next((name for token, name in _BROWSERS if token in user_agent), "?")
    system = next((name for token, name in _SYSTEMS if token in user_agent), "?")
    return f"{browser} · {system}"


def note_sign_in(request: HttpRequest, user: Any) -> KnownDevice | None:
    """Remember the browser of this sign-in; on a new one (and not the account's first), an
    audit event and the e-mail. Returns the new device, or None."""
    if "REMOTE_ADDR" not in request.META:
        return None
    value = device_id(request) or secrets.token_urlsafe(32)
    setattr(request, DEVICE_TO_SET, value)  # (re)written with a fresh age
    now = timezone.now()
    address = client_ip(request)
    summary = summarise_user_agent(request.META.get("HTTP_USER_AGENT", ""))[:100]
    digest = _hash(value)
    with transaction.atomic():
        updated = KnownDevice.objects.filter(user=user, device_sha256=digest).update(
            last_seen=now, address=address, user_agent=summary
        )
        if updated:
            return None
        first = not KnownDevice.objects.filter(user=user).exists()
        try:
            with transaction.atomic():
                device = KnownDevice.objects.create(
                    user=user,
                    device_sha256=digest,
                    user_agent=summary,
                    address=address,
                    first_seen=now,
                    last_seen=now,
                )
        except IntegrityError:
            return None  # the same browser's other sign-in, a moment ago
        if first:
            return None
        record_event(
            action=AuditAction.NEW_DEVICE_SIGN_IN,
            actor=user,
            obj=user,
            details={"device": device.pk, "browser": summary},
        )
        transaction.on_commit(lambda: enqueue("accounts.tasks.new_device_email", device.pk))
    return device


def new_device_email_send(device_id: Any) -> bool:
    """Task body: the e-mail about one new device, in its user's language."""
    device = KnownDevice.objects.select_related("user").filter(pk=device_id).first()
    if device is None or not device.user.email:
        return False
    user = device.user
    with translation.override(user_language(user)):
        context = {
            "user": user,
            "device": device,
            "change_url": public_url(reverse("accounts:password_change")),
            "reset_url": public_url(reverse("account_reset_password")),
        }
        subject = render_to_string("accounts/new_device_email_subject.txt", context).strip()
        body = render_to_string("accounts/new_device_email.txt", context)
    try:
        EmailMessage(subject, body, to=[user.email]).send()
    except OSError:
        # The audit event stands; the mail server's failure is logged, with no address.
        logger.exception("new device %s: the e-mail could not be sent", device.pk)
        return False
    return True


class DeviceCookieMiddleware:
    """Writes the device cookie that ``note_sign_in`` chose on the sign-in's response."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response: HttpResponse = self.get_response(request)
        value = getattr(request, DEVICE_TO_SET, None)
        if value:
            response.set_signed_cookie(
                COOKIE,
                value,
                salt=SALT,
                max_age=COOKIE_AGE,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response
