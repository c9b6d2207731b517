"""The one writer of the audit trail, called by every service inside its own transaction."""

from __future__ import annotations

import ipaddress
import json
import uuid
from typing import Any

from django.db import connections, router, transaction
from django.db.models import Model
from django.utils import timezone

from transferdesk.middleware import get_request_context
from transferdesk.principals import is_machine

from .chain import audit_key, compute_mac
from .choices import AuditAction
from .models import GENESIS_MAC, AuditEvent

#: Key of the PostgreSQL advisory lock that serialises appends ("tdaudit1" in ASCII).
CHAIN_LOCK_ID = 0x7464617564697431
#: Longest ``details`` may be once encoded: room for ids and counts, not for a record.
MAX_DETAILS_BYTES = 4096

_SCALARS = (str, int, bool, type(None))


def clean_details(value: Any, *, _path: str = "details") -> Any:
    """Return ``value`` as plain JSON of ids, counts and codes, or raise ``TypeError``.

    The rule: ``details`` carries identifiers (primary keys, request ids, usernames of
    accounts), counts, codes and choice values, never personal data of customers, so that
    erasing a customer never has to touch the trail. No function can tell a name from a code,
    so this guard refuses what is certainly wrong: model instances (pass ``.pk``), bytes, floats
    and decimals (their JSON text differs between databases, which would break the MAC: store
    integers or strings), sets, dates (pass ISO text), and anything large.
    UUIDs become their text form.
    """
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, list | tuple):
        return [clean_details(item, _path=f"{_path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        cleaned = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{_path}: keys must be strings, not {type(key).__name__}.")
            cleaned[key] = clean_details(item, _path=f"{_path}.{key}")
        return cleaned
    if isinstance(value, Model):
        raise TypeError(
            f"{_path}: a {type(value).__name__} instance cannot go into audit details; "
            "pass its primary key (the event's object and deal name the objects)."
        )
    raise TypeError(
        f"{_path}: {type(value).__name__} is not allowed in audit details; use ids, counts "
        "and codes (str, int, bool, None, lists and dicts of them)."
    )


def _normalise_ip(value: str | None) -> str | None:
    """The address exactly as the database will return it (IPv4-mapped IPv6 unpacked)."""
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


def _text(value: str, limit: int) -> str:
    # PostgreSQL refuses NUL in text; limits match the columns so nothing is cut by the database.
    return value.replace("\x00", "")[:limit]


def _ref(value: Any) -> str:
    if value is None or value == "":
        return ""
    return str(value.pk if isinstance(value, Model) else value)


def record_event(
    *,
    action: AuditAction | str,
    actor: Any = None,
    obj: Model | None = None,
    object_type: str = "",
    object_id: Any = "",
    deal: Any = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain and return it.

    Call it inside the transaction of the change it records, so that the event exists if and
    only if the change does. ``obj`` fills ``object_type`` (``app_label.model``) and
    ``object_id``; pass them directly for objects that are not model instances. ``deal`` is a
    deal instance or its primary key. ``actor`` is the user acting (None or an anonymous user
    for the system or a stranger), or an API key's ``MachinePrincipal`` (kept by name). The
    request id, address and user agent come from the request context
    (``transferdesk.middleware``). ``details``: see ``clean_details``.

    Appends are serialised: on PostgreSQL by a transaction-scoped advisory lock, held until the
    caller's transaction ends, so concurrent writers (web processes, workers) queue for the
    head instead of forking the chain; on SQLite by the write lock that every transaction takes
    at BEGIN (``transaction_mode=IMMEDIATE`` in settings). The unique ``seq`` is the last line
    of defence: a fork would fail to insert rather than be stored.

    Because the lock is held until the caller's transaction ends, call ``record_event`` as the
    last step of the transaction, after the slow work: every other writer of the trail (sign-
    ins included) waits while it is held, and taking it before row locks invites deadlocks.
    """
    action = AuditAction(action)
    cleaned = clean_details(details or {})
    size = len(json.dumps(cleaned, ensure_ascii=False).encode())
    if size > MAX_DETAILS_BYTES:
        raise ValueError(
            f"Audit details of {size} bytes are too large; record ids and counts, not content."
        )
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = obj.pk if object_id in ("", None) else object_id
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    # An API key (transferdesk.principals) is named, not linked: it is no user row.
    actor_name = _text(actor.get_username(), 150) if actor else ""
    if is_machine(actor):
        actor = None
    context = get_request_context()
    key = audit_key()

    using = router.db_for_write(AuditEvent)
    with transaction.atomic(using=using):
        connection = connections[using]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])
        head = AuditEvent.objects.using(using).order_by("-seq").values_list("seq", "mac").first()
        seq, prev_mac = head if head else (0, GENESIS_MAC)
        event = AuditEvent(
            seq=seq + 1,
            # Taken under the lock, so times never run backwards along the chain on one clock.
            time=timezone.now(),
            actor=actor,
            actor_name=actor_name,
            action=action.value,
            object_type=_text(str(object_type), 100),
            object_id=_text(_ref(object_id), 64),
            deal_ref=_text(_ref(deal), 64),
            request_id=_text(context.request_id, 64) if context else "",
            ip=_normalise_ip(context.ip) if context else None,
            user_agent=_text(context.user_agent, 512) if context else "",
            details=cleaned,
            prev_mac=prev_mac,
        )
        event.mac = compute_mac(key, _row(event))
        event.save(force_insert=True, using=using)
    return event


def _row(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "time": event.time,
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "deal_ref": event.deal_ref,
        "request_id": event.request_id,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "details": event.details,
        "prev_mac": event.prev_mac,
    }


__all__ = ["CHAIN_LOCK_ID", "clean_details", "record_event"]
