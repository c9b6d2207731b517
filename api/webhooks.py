"""Webhooks: endpoints, the outbox of deliveries, and sending them (issue 18).

- The events come from the lower layers as signals sent inside the event's transaction
  (``transfers.events``); the receivers here write one outbox row per subscribed active
  endpoint of the organisations concerned, in that same transaction, and ask for it to be sent
  after the commit (``transferdesk.jobs.enqueue``). A lost message is picked up by the sweeper.
- The body holds ids and links only, never personal data: the receiver pulls what it needs
  through the API with its key, within its scopes.
- Signing is the Standard Webhooks scheme (headers ``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature``), done by the ``standardwebhooks`` library.
- An attempt that fails is retried after ``WEBHOOK_RETRY_DELAYS``; every attempt is logged.
- Server-side request forgery: only http(s), no credentials in the address, no redirects
  followed, and outside development no loopback, private, link-local or reserved address
  (checked when the endpoint is saved and again before every attempt).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import secrets
import socket
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from standardwebhooks import Webhook

from customers.models import Organization
from transferdesk import jobs
from transferdesk.crypto.errors import DecryptionError, MissingMasterKey
from transferdesk.crypto.keyring import Keyring
from transferdesk.crypto.sealed import SealedText
from transferdesk.public_url import public_url
from transferdesk.trail import AuditAction, record_event
from transfers import events
from transfers.models import TransferDeal

from .services import KEY_HOLDER_KINDS, can_manage_keys
from .webhook_models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)

logger = logging.getLogger(__name__)

DELIVER_TASK = "api.webhook_tasks.webhook_deliver"
_SEAL_PREFIX = "tdwh1"
#: How long a sender holds a delivery it took (longer than any attempt can last), so the
#: sweeper does not send it twice meanwhile.
_CLAIM_SLACK = timedelta(seconds=60)
#: At most this many characters of an answer's error are kept.
_ERROR_CHARS = 300

can_manage_webhooks = can_manage_keys


# --- The secret ------------------------------------------------------------------------------


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


_SEALED = SealedText(prefix=_SEAL_PREFIX, purpose="webhook-secret", what="a webhook secret")


def seal_secret(secret: str, keyring: Keyring | None = None) -> str:
    return _SEALED.seal(secret, keyring)


def unseal_secret(value: str) -> str:
    return _SEALED.open(value)


def reseal_secrets(keyring: Keyring, *, batch_size: int, limit: int | None) -> tuple[int, int]:
    """A master-key rotation's resealer (``transferdesk.crypto.rotation``): seal again under
    the active key every endpoint secret sealed under another. Returns (resealed, left)."""
    marker = f"{_SEAL_PREFIX}:{keyring.active_id}:"
    stale = WebhookEndpoint.objects.exclude(sealed_secret__startswith=marker)
    pending = list(stale.order_by("pk").values_list("pk", flat=True))
    if limit is not None:
        pending = pending[:limit]
    done = 0
    for start in range(0, len(pending), batch_size):
        with transaction.atomic():
            for endpoint in stale.select_for_update().filter(
                pk__in=pending[start : start + batch_size]
            ):
                endpoint.sealed_secret = seal_secret(unseal_secret(endpoint.sealed_secret), keyring)
                endpoint.save(update_fields=["sealed_secret"])
                done += 1
    return done, stale.count()


# --- Addresses -------------------------------------------------------------------------------


def check_url(url: str) -> None:
    """Refuse an address a webhook must not be sent to (ValidationError with the reason)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationError(_("Enter a valid web address.")) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(_("The address must start with https:// or http://."))
    if parts.username or parts.password:
        raise ValidationError(_("The address must not hold a user name or password."))
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise ValidationError(_("The address's host name cannot be found.")) from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global or address.is_multicast:
            raise ValidationError(
                _("The address leads to a private or local network; use a public address.")
            )


# --- Endpoints -------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def endpoint_create(
    *, actor: Any, organization: Organization, url: str, description: str, event_types: list[str]
) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint; returns it and its secret, which the page shows this once."""
    if not can_manage_webhooks(actor):
        raise PermissionDenied("only compliance officers and administrators manage webhooks")
    if organization.kind not in KEY_HOLDER_KINDS:
        raise ValidationError(_("Webhooks are for sellers and buyers."))
    chosen = sorted(set(event_types))
    if not chosen or any(value not in WebhookEventType.values for value in chosen):
        raise ValidationError(_("Choose at least one event from the list."))
    check_url(url)
    secret = new_secret()
    endpoint = WebhookEndpoint(
        organization=organization,
        url=url,
        description=description,
        sealed_secret=seal_secret(secret),
        event_types=chosen,
        created_by=actor,
    )
    endpoint.full_clean()
    endpoint.save(force_insert=True)
    record_event(
        action=AuditAction.WEBHOOK_CREATED,
        actor=actor,
        obj=endpoint,
        details={"organization": organization.pk, "events": chosen},
    )
    return endpoint, secret


@transaction.atomic(durable=True)
def endpoint_disable(*, actor: Any, endpoint: WebhookEndpoint) -> bool:
    """Stop sending to ``endpoint`` (pending deliveries wait); False if it already was."""
    if not can_manage_webhooks(actor):
        raise PermissionDenied("only compliance officers and administrators manage webhooks")
    changed = WebhookEndpoint.objects.filter(pk=endpoint.pk, active=True).update(
        active=False, disabled_at=timezone.now()
    )
    if changed:
        record_event(
            action=AuditAction.WEBHOOK_DISABLED,
            actor=actor,
            obj=endpoint,
            details={"organization": endpoint.organization_id},
        )
    return bool(changed)


@transaction.atomic(durable=True)
def delivery_replay(*, actor: Any, delivery: WebhookDelivery) -> None:
    """Send ``delivery`` again now (same message id), whatever became of it before."""
    if not can_manage_webhooks(actor):
        raise PermissionDenied("only compliance officers and administrators manage webhooks")
    if not delivery.endpoint.active:
        raise ValidationError(_("This endpoint is disabled: nothing is sent to it."))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING, tries=0, next_attempt_at=timezone.now()
    )
    record_event(
        action=AuditAction.WEBHOOK_REPLAYED,
        actor=actor,
        obj=delivery,
        details={"endpoint": delivery.endpoint_id, "event": delivery.event_type},
    )
    transaction.on_commit(lambda: jobs.enqueue(DELIVER_TASK, str(delivery.pk), True))


# --- The outbox ------------------------------------------------------------------------------


def emit(event_type: str, organization_ids: list[Any], data: dict[str, Any]) -> int:
    """Write one delivery per active endpoint of ``organization_ids`` subscribed to
    ``event_type``, in the caller's transaction, and send them after it commits. ``data``: ids
    and links only. Returns how many were written."""
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(
            organization_id__in=organization_ids, active=True
        )
        if event_type in endpoint.event_types
    ]
    if not endpoints:
        return 0
    now = timezone.now()
    body = json.dumps(
        {"type": event_type, "timestamp": now.isoformat(), "data": data},
        sort_keys=True,
        separators=(",", ":"),
    )
    made = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(endpoint=endpoint, event_type=event_type, body=body, created_at=now)
            for endpoint in endpoints
        ]
    )
    ids = [str(delivery.pk) for delivery in made]
    transaction.on_commit(lambda: [jobs.enqueue(DELIVER_TASK, pk) for pk in ids])
    return len(made)


def _deal_link(deal_id: Any) -> str:
    return public_url(reverse("api:deal_detail", args=[deal_id]))


def _parties(deal_id: Any) -> tuple[Any, Any]:
    seller, buyer = TransferDeal.objects.values_list("seller_id", "buyer_id").get(pk=deal_id)
    return seller, buyer


@receiver(events.stage_delivered, dispatch_uid="api_webhook_stage_delivered")
def _on_stage_delivered(sender: Any, stage_id: Any, deal_id: Any, **_kw: Any) -> None:
    emit(
        WebhookEventType.STAGE_DELIVERED,
        list(_parties(deal_id)),
        {"deal": str(deal_id), "stage": str(stage_id), "links": {"deal": _deal_link(deal_id)}},
    )


@receiver(events.followup_created, dispatch_uid="api_webhook_followup_created")
def _on_followup_created(
    sender: Any, deal_id: Any, task_ids: list[Any], count: int, **_kw: Any
) -> None:
    emit(
        WebhookEventType.FOLLOWUP_CREATED,
        [_parties(deal_id)[1]],
        {
            "deal": str(deal_id),
            "tasks": task_ids,
            "count": count,
            "links": {
                "deal": _deal_link(deal_id),
                "tasks": public_url(reverse("portal:tasks", args=[deal_id])),
            },
        },
    )


@receiver(events.followup_due, dispatch_uid="api_webhook_followup_due")
def _on_followup_due(sender: Any, task_id: Any, deal_id: Any, **_kw: Any) -> None:
    emit(
        WebhookEventType.FOLLOWUP_DUE,
        [_parties(deal_id)[1]],
        {
            "deal": str(deal_id),
            "task": task_id,
            "links": {
                "deal": _deal_link(deal_id),
                "tasks": public_url(reverse("portal:tasks", args=[deal_id])),
            },
        },
    )


@receiver(events.request_received, dispatch_uid="api_webhook_request_received")
def _on_request_received(sender: Any, request_id: Any, deal_id: Any, **_kw: Any) -> None:
    emit(
        WebhookEventType.REQUEST_RECEIVED,
        [_parties(deal_id)[0]],
        {
            "deal": str(deal_id),
            "request": str(request_id),
            "links": {
                "deal": _deal_link(deal_id),
                "request": public_url(reverse("requests:request_detail", args=[request_id])),
            },
        },
    )


@receiver(events.deal_cancelled, dispatch_uid="api_webhook_deal_cancelled")
def _on_deal_cancelled(sender: Any, deal_id: Any, **_kw: Any) -> None:
    emit(
        WebhookEventType.DEAL_CANCELLED,
        list(_parties(deal_id)),
        {"deal": str(deal_id), "links": {"deal": _deal_link(deal_id)}},
    )


# --- Sending ---------------------------------------------------------------------------------


def signed_headers(secret: str, message_id: str, body: str) -> dict[str, str]:
    """The Standard Webhooks headers for ``body``, signed now."""
    now = timezone.now()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
    }


def _claim(delivery_id: Any) -> WebhookDelivery | None:
    """Take a due delivery for one attempt (None if it is not due, done, or taken)."""
    now = timezone.now()
    hold = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT) + _CLAIM_SLACK
    taken = WebhookDelivery.objects.filter(
        pk=delivery_id,
        status=DeliveryStatus.PENDING,
        next_attempt_at__lte=now,
        endpoint__active=True,
    ).update(next_attempt_at=hold)
    if not taken:
        return None
    return WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)


def _post(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> tuple[int | None, str]:
    """One POST; (status code or None, error text)."""
    try:
        check_url(endpoint.url)
        headers = signed_headers(
            unseal_secret(endpoint.sealed_secret), delivery.message_id, delivery.body
        )
    except ValidationError as exc:
        return None, " ".join(exc.messages)
    except (DecryptionError, MissingMasterKey) as exc:  # a key removed too early: say so
        return None, f"cannot open the endpoint's secret: {exc}"
    headers |= {"content-type": "application/json", "user-agent": "TransferDesk-Webhooks/1"}
    try:
        response = requests.post(
            endpoint.url,
            data=delivery.body.encode(),
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT,
            allow_redirects=False,  # a redirect could lead anywhere: it counts as a failure
            stream=True,  # the answer's body is never read
        )
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}: {exc}"
    response.close()
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}"


def deliver(delivery_id: Any, replay: bool = False) -> bool:
    """One attempt at a due delivery, logged; schedules the next one or gives up. Returns
    whether it was delivered."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return False
    started = timezone.now()
    clock = time.monotonic()
    status_code, error = _post(delivery.endpoint, delivery)
    duration_ms = int((time.monotonic() - clock) * 1000)
    ok = not error
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            started_at=started,
            status_code=status_code,
            duration_ms=duration_ms,
            error=error[:_ERROR_CHARS],
            replay=replay,
        )
        tries = delivery.tries + 1
        delays = settings.WEBHOOK_RETRY_DELAYS
        now = timezone.now()
        if ok:
            changes: dict[str, Any] = {"status": DeliveryStatus.DELIVERED, "delivered_at": now}
        elif tries <= len(delays):
            changes = {"next_attempt_at": now + timedelta(seconds=delays[tries - 1])}
        else:
            changes = {"status": DeliveryStatus.FAILED}
        WebhookDelivery.objects.filter(pk=delivery.pk).update(tries=F("tries") + 1, **changes)
    if not ok:
        logger.info(
            "webhook %s to endpoint %s failed: %s", delivery.pk, delivery.endpoint_id, error
        )
    return ok


def sweep(limit: int = 500) -> int:
    """Beat task body: send the deliveries that are due (a lost message, a retry's time)."""
    due = list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=timezone.now(),
            endpoint__active=True,
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in due:
        jobs.enqueue(DELIVER_TASK, str(pk))
    return len(due)
