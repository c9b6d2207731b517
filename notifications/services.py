"""Writes of the notification centre: telling people (``notify``), reading, preferences, and
the e-mails (one per notification at once, or one digest a day).

``notify`` joins the transaction of the service whose event it announces (it refuses to run
outside one), so a notification exists if and only if its event does; e-mails are enqueued
after that transaction commits, through the one enqueue door, with the notification's id only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.languages import user_language
from transferdesk import jobs
from transferdesk.public_url import public_url

from .choices import DEFAULT_DELIVERY, Delivery, Kind
from .models import DigestSent, EmailPreference, Notification, deliveries

logger = logging.getLogger(__name__)

EMAIL_TASK = "notifications.tasks.notification_email"


def notify(
    *,
    recipients: Iterable[Any],
    kind: Kind | str,
    url: str,
    params: Mapping[str, str | int] | None = None,
    actor: Any = None,
    email: bool = True,
) -> list[Notification]:
    """Tell ``recipients`` (users; inactive ones and ``actor`` are left out: nobody is told
    of their own act) that ``kind`` happened; ``url`` is the path of the work's page.
    ``email=False`` where the event sends its own e-mail already (the access review's daily
    reminder), so that nobody gets the same news twice."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("notify() must run inside the transaction of the event it announces")
    kind = Kind(kind)
    if not url.startswith("/"):
        raise ValueError("url is a path from reverse()")
    actor_pk = getattr(actor, "pk", None)
    users = {u.pk: u for u in recipients if u is not None and u.is_active and u.pk != actor_pk}
    if not users:
        return []
    now = timezone.now()
    rows = Notification.objects.bulk_create(
        [
            Notification(recipient_id=pk, kind=kind, url=url, params=dict(params or {}),
                         created_at=now)
            for pk in sorted(users)
        ]
    )  # fmt: skip
    ways = deliveries(list(users), kind)
    to_mail = [
        n.pk
        for n in rows
        if email and ways[n.recipient_id] == Delivery.IMMEDIATELY and users[n.recipient_id].email
    ]
    if to_mail:
        transaction.on_commit(lambda: _enqueue_emails(to_mail))
    return rows


def _enqueue_emails(notification_ids: list[int]) -> None:
    """One task per e-mail, ids only; a broker that does not answer loses the e-mail, never
    the notification (the centre shows it anyway)."""
    for pk in notification_ids:
        jobs.enqueue(EMAIL_TASK, pk)


def told_before(*, kind: Kind | str, url: str) -> bool:
    """Whether anyone was told of ``kind`` about the page ``url`` already (for reminders that
    go once)."""
    return Notification.objects.filter(kind=kind, url=url).exists()


def notification_mark_read(*, actor: Any, notification: Notification) -> None:
    """Mark one of the actor's notifications read (not an audited change: it is their inbox)."""
    Notification.objects.restrict(actor).filter(pk=notification.pk, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def notifications_mark_all_read(*, actor: Any) -> int:
    return Notification.objects.filter(recipient_id=actor.pk, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def delivery_of(user: Any) -> dict[str, str]:
    """The user's delivery for every kind (their choices over the defaults)."""
    chosen = dict(EmailPreference.objects.filter(user=user).values_list("kind", "delivery"))
    return {kind: chosen.get(kind, DEFAULT_DELIVERY.get(kind, Delivery.DIGEST)) for kind in Kind}


@transaction.atomic
def preferences_set(*, actor: Any, values: Mapping[str, str]) -> None:
    """Store the actor's choices; a choice equal to the default stores nothing."""
    for kind, delivery in values.items():
        kind, delivery = Kind(kind), Delivery(delivery)
        if delivery == DEFAULT_DELIVERY.get(kind, Delivery.DIGEST):
            EmailPreference.objects.filter(user=actor, kind=kind).delete()
        else:
            EmailPreference.objects.update_or_create(
                user=actor, kind=kind, defaults={"delivery": delivery}
            )


# --- e-mails ---------------------------------------------------------------------------------


def _footer() -> str:
    return _("Choose which e-mails you get: {url}").format(
        url=public_url(reverse("notifications:preferences"))
    )


def notification_email_send(notification_id: Any) -> bool:
    """Task body: e-mail one notification in its recipient's language, once. Only what waits
    and a link: the message's parameters are references, never a customer's data."""
    claimed = Notification.objects.filter(pk=notification_id, emailed_at__isnull=True).update(
        emailed_at=timezone.now()
    )
    if not claimed:
        return False
    notification = Notification.objects.select_related("recipient").get(pk=notification_id)
    user = notification.recipient
    with translation.override(user_language(user)):
        subject = _("TransferDesk: {kind}").format(kind=notification.get_kind_display())
        body = "\n\n".join(
            [
                notification.text,
                _("Open it: {url}").format(url=public_url(notification.url)),
                _footer(),
            ]
        )
    try:
        send_mail(subject, body, None, [user.email])
    except Exception:
        # The notification stays in the centre; the e-mail is marked unsent and logged, not
        # raised: in the embedded mode the task runs inside the request that caused the event,
        # after its commit, and a mail server that is down must not fail that page.
        Notification.objects.filter(pk=notification_id).update(emailed_at=None)
        logger.warning("notification %s: e-mail not sent", notification_id, exc_info=True)
        return False
    return True


def digest_send_all() -> int:
    """Beat task body: one e-mail a day to each user with unread notifications of kinds they
    chose for the digest; returns how many digests went."""
    pending = (
        Notification.objects.filter(
            read_at__isnull=True, emailed_at__isnull=True, digested_at__isnull=True
        )
        .exclude(recipient__email="")
        .filter(recipient__is_active=True)
        .values_list("recipient_id", flat=True)
        .distinct()
    )
    return sum(digest_send(user_id=user_id) for user_id in sorted(set(pending)))


def digest_send(*, user_id: Any) -> bool:
    """The day's digest for one user, at most once a day (``DigestSent``)."""
    from django.contrib.auth import get_user_model

    user = get_user_model()._default_manager.get(pk=user_id)
    ways = delivery_of(user)
    digest_kinds = [kind for kind, way in ways.items() if way == Delivery.DIGEST]
    today = timezone.localdate()
    with transaction.atomic():
        items = list(
            Notification.objects.select_for_update()
            .filter(
                recipient=user,
                kind__in=digest_kinds,
                read_at__isnull=True,
                emailed_at__isnull=True,
                digested_at__isnull=True,
            )
            .order_by("created_at", "pk")
        )
        if not items:
            return False
        try:
            with transaction.atomic():
                DigestSent.objects.create(user=user, day=today, notifications=len(items))
        except IntegrityError:
            return False  # today's digest went already; these wait for tomorrow's
        Notification.objects.filter(pk__in=[n.pk for n in items]).update(digested_at=timezone.now())
    with translation.override(user_language(user)):
        subject = _("TransferDesk: your daily digest ({count})").format(count=len(items))
        lines = [f"• {n.text}\n  {public_url(n.url)}" for n in items]
        body = "\n\n".join([_("What happened since your last digest:"), *lines, _footer()])
    send_mail(subject, body, None, [user.email])
    return True
