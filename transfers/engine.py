"""The handover engine: turns an approved stage into encrypted items and a signed manifest.

Exactly once (DESIGN.md guarantee 7) comes from three things working together:

* the stage row is the truth: a worker claims it with a lease and a heartbeat; a second
  delivery of the same message finds a live lease and leaves; a worker that finds the lease
  stale (its owner was killed) takes over and records ``HANDOVER_INTERRUPTED``;
* each chunk is one transaction: items, progress and heartbeat commit together, and the
  progress update is conditional on the lease, so a worker that lost its lease rolls its
  chunk back instead of racing the new owner;
* items are unique per (stage, customer) and inserted with ``ON CONFLICT DO NOTHING``, so even
  a chunk done twice stores each customer once. A resumed run skips, before decrypting
  anything, the customers of its range that already have an item.

Speed (``benchmarks/handover.py``): per item the work is one key unwrap, the stage's fields
decrypted, one JSON document, one encryption and one hash; everything around it is paid per
chunk (one keyset query, one COPY, one ``INSERT … SELECT``, one progress update, one commit)
or per partition, and no query joins customers to items with an anti-join whose plan depends
on statistics that lag behind a fast-growing items table.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.choices import Role
from customers.choices import Tier
from customers.models import Customer
from customers.registry import fields_of
from notifications.choices import Kind
from transferdesk import jobs
from transferdesk.crypto import aead
from transferdesk.crypto.errors import CryptoError
from transferdesk.trail import AuditAction, chain_head, record_event

from . import events, signing
from .choices import DealStatus, RunRefusal, StageKind, StageStatus
from .models import HandoverItem, HandoverStage, StageApproval, StageManifest, TransferDeal
from .recipients import tell_stage
from .selectors import (
    approved_members,
    approved_population,
    eligible,
    exclusion_counts,
    stage_selection,
)

logger = logging.getLogger(__name__)


def chunk_size() -> int:
    return int(getattr(settings, "HANDOVER_CHUNK_SIZE", 1000))


#: Cells of an aggregate stage below this count are suppressed (re-identification risk).
SMALL_CELL_THRESHOLD = 5
#: General fields left out of pseudonymised snapshots: the seller's reference identifies the
#: person directly, and the keyed pseudonym takes its place.
PSEUDONYMISED_EXCLUDED = frozenset({"reference"})


def stale_after() -> timedelta:
    """How long a running stage may show no progress before another worker takes it over."""
    return timedelta(seconds=getattr(settings, "HANDOVER_STALE_AFTER", 120))


#: First key of the partition advisory locks ("tdho" in ASCII); the audit chain uses another.
PARTITION_LOCK_CLASS = 0x7464686F


class LeaseLost(Exception):
    """Another worker owns the stage now; this one stops without writing."""


# --- snapshots ------------------------------------------------------------------------------


def snapshot_fields(stage: HandoverStage) -> list[str]:
    """The customer fields a stage's items carry, asked of the tier registry."""
    if stage.kind == StageKind.PSEUDONYMISED:
        return [f for f in fields_of(Customer, Tier.GENERAL) if f not in PSEUDONYMISED_EXCLUDED]
    if stage.kind == StageKind.IDENTIFIED:
        return [
            f for tier in Tier.values if tier in stage.tier_scope for f in fields_of(Customer, tier)
        ]
    return []


def pseudonym_key(deal_key: bytes) -> bytes:
    """A key derived from the deal key for pseudonyms only: stable across the deal's stages,
    useless for anything else, and gone when the deal key is destroyed."""
    return hmac.new(deal_key, b"transferdesk/pseudonym/v1", hashlib.sha256).digest()


def pseudonym(key: bytes, customer_id: uuid.UUID) -> str:
    return hmac.new(key, customer_id.bytes, hashlib.sha256).hexdigest()[:32]


def receipt_namer(stage: HandoverStage) -> Callable[[Any], str]:
    """How the stage's receipt names an item's customer: by their id on identified stages,
    by the keyed pseudonym on pseudonymised ones (never the seller's id: a stable id would
    link the records across stages and deals)."""
    if stage.kind != StageKind.PSEUDONYMISED:
        return str
    pkey = pseudonym_key(stage.deal.data_key.unwrap())
    return lambda customer_id: pseudonym(pkey, uuid.UUID(str(customer_id)))


def receipt_items(stage: HandoverStage) -> Iterator[tuple[str, str]]:
    """The stage's items as (name, digest) in the order of the Merkle leaves: sorted by the
    name ``receipt_namer`` gives them, so the customer-id order of identified stages (read in
    that order) and the pseudonym order of pseudonymised ones, which says nothing of the
    customer ids either."""
    rows = stage.items.order_by("customer_id").values_list("customer_id", "digest")
    if stage.kind != StageKind.PSEUDONYMISED:
        return ((str(c), d) for c, d in rows.iterator(chunk_size=5000))
    name = receipt_namer(stage)
    return iter(sorted((name(c), d) for c, d in rows.iterator(chunk_size=5000)))


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | bool):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def build_snapshot(
    stage: HandoverStage, customer_id: uuid.UUID, fields: dict[str, Any], pkey: bytes | None
) -> dict[str, Any]:
    """The canonical document of one item (before encryption): the stage, the fields, and
    either the customer's id (identified) or the keyed pseudonym (pseudonymised)."""
    document: dict[str, Any] = {"stage": str(stage.pk), "fields": fields}
    if stage.kind == StageKind.PSEUDONYMISED:
        assert pkey is not None
        document["pseudonym"] = pseudonym(pkey, customer_id)
    else:
        document["customer"] = str(customer_id)
    return document


class _RowReader:
    """Reads the snapshot fields of customers from plain rows, without model instances.

    Building a model instance per customer costs more than all the cryptography of an item,
    so the engine reads plain rows and decrypts here. Keys still come from the crypto layer
    (``DataKey.unwrap_stored``: the checks and errors of ``DataKey.unwrap``, destroyed keys
    refused), each customer's key is unwrapped once and its AES-GCM state built once for all
    its fields, and only the fields the stage carries are read. The associated data of a
    field is the one ``EncryptedField.location`` builds; the engine's tests compare every
    field with the ORM's own reading, so the two cannot drift apart.
    """

    KEY_COLUMNS = (
        "id", "data_key_id", "data_key__master_key_id", "data_key__wrapped_key",
        "data_key__destroyed_at",
    )  # fmt: skip

    def __init__(self, fields: list[str]) -> None:
        from django.db import models

        from transferdesk.crypto.fields import EncryptedField

        self.fields = fields
        self.label = Customer._meta.label
        # Per column: its name, how to read it (AS_IS: text columns, already what the document
        # holds; PLAIN: through ``_plain``; SECRET: decrypt) and the prefix of its associated
        # data when it is encrypted.
        self.plan: list[tuple[str, int, str]] = []
        for name in fields:
            field = Customer._meta.get_field(name)
            if isinstance(field, EncryptedField):
                self.plan.append((name, self.SECRET, f"{self.label}|{name}|"))
            elif isinstance(field, models.CharField | models.TextField):
                self.plan.append((name, self.AS_IS, ""))
            else:
                self.plan.append((name, self.PLAIN, ""))
        self.columns = [*self.KEY_COLUMNS, *fields]
        self.masters: dict[str, aead.Cipher] = {}  # master key id -> its cipher, built once

    AS_IS, PLAIN, SECRET = range(3)

    def read(self, row: tuple[Any, ...]) -> tuple[str, dict[str, Any]]:
        """The customer's id (text) and the values of the stage's fields, decrypted."""
        from transferdesk.models import DataKey

        customer_id, key_id, master_id, wrapped, destroyed_at = row[:5]
        text_id = str(customer_id)
        cipher: aead.Cipher | None = None
        values: dict[str, Any] = {}
        for (name, how, prefix), value in zip(self.plan, row[5:], strict=True):
            if how == self.AS_IS:
                values[name] = value
            elif how == self.PLAIN:
                values[name] = _plain(value)
            elif value is None:
                values[name] = ""
            else:
                if cipher is None:
                    cipher = aead.Cipher(
                        DataKey.unwrap_stored(
                            key_id, master_id, wrapped, destroyed_at, masters=self.masters
                        )
                    )
                values[name] = cipher.decrypt(
                    value, (prefix + text_id).encode(), what=f"{self.label}.{name} of {text_id}"
                ).decode("utf-8")
        return text_id, values


def decrypt_item(item: HandoverItem, deal_key: bytes) -> dict[str, Any]:
    import json

    plaintext = aead.decrypt(
        deal_key,
        bytes(item.snapshot),
        HandoverItem.aad(item.stage_id, item.customer_id),
        what=f"handover item {item.pk} (customer {item.customer_id})",
    )
    return json.loads(plaintext)


# --- the approval the run needs ----------------------------------------------------------


def latest_approval(stage: HandoverStage) -> StageApproval | None:
    return StageApproval.objects.filter(stage_id=stage.pk).select_related("approved_by").first()


def run_refusal(
    stage: HandoverStage, *, notices: bool = True
) -> tuple[RunRefusal | None, StageApproval | None]:
    """Why the engine must not run ``stage``, or None, with the approval it runs under.

    The page and the service are not the only doors to a stage row (the admin was one; the
    database is another), so the engine checks for itself (DESIGN.md guarantee 8): a sealed
    approval by a compliance officer other than the requester, for the kind, tiers and
    selection the stage has now, whose frozen population is intact; and, for an identified
    stage, every customer it would hand over told with their objection window closed
    (``notices``: asked once, at the claim; a partition checks the approval only). A few
    queries per claim or partition, none per customer.
    """
    approval = latest_approval(stage)
    if approval is None:
        return RunRefusal.NOT_APPROVED, None
    if not signing.seal_matches(approval.scope(), approval.seal):
        return RunRefusal.SEAL, approval
    approver = approval.approved_by
    if (
        approver is None
        or approval.requested_by_id is None
        or approver.pk == approval.requested_by_id
        or not approver.has_role(Role.COMPLIANCE)
    ):
        return RunRefusal.NOT_FOUR_EYES, approval
    if (
        stage.kind != approval.kind
        or sorted(stage.tier_scope) != sorted(approval.tier_scope)
        or (stage.selection or {}) != (approval.selection or {})
    ):
        return RunRefusal.SCOPE_CHANGED, approval
    if approved_members(approval).count() != approval.customers:
        return RunRefusal.POPULATION_CHANGED, approval
    if notices and stage.kind == StageKind.IDENTIFIED:
        from .notices import untold_count

        if untold_count(stage.deal, approved_population(stage, approval)):
            return RunRefusal.UNTOLD, approval
    return None, approval


def _refuse(stage: HandoverStage, refusal: RunRefusal, *, lease: str | None = None) -> None:
    """Fail a stage the engine will not run, with its reason and an audit event; nothing is
    delivered. ``lease``: only while this worker still owns the stage."""
    from django.utils import translation

    with translation.override("en"):
        reason = str(refusal.label)
    stages = HandoverStage.objects.filter(pk=stage.pk)
    if lease is not None:
        stages = stages.filter(lease=lease, status=StageStatus.RUNNING)
    else:
        stages = stages.filter(status__in=(StageStatus.APPROVED, StageStatus.RUNNING))
    with transaction.atomic():
        failed = stages.update(
            status=StageStatus.FAILED, refusal=refusal.value, failure_reason=reason, lease=""
        )
        if failed:
            logger.warning("stage %s refused: %s", stage.pk, refusal.value)
            record_event(
                action=AuditAction.HANDOVER_REFUSED,
                obj=stage,
                deal=stage.deal_id,
                details={
                    "reason": refusal.value,
                    "kind": stage.kind,
                    "tiers": list(stage.tier_scope),
                },
            )
            tell_stage(stage, Kind.STAGE_FAILED)


# --- the run --------------------------------------------------------------------------------


def partitions() -> int:
    """Into how many customer-id ranges an item stage is split: each range is its own task,
    so workers on several processes or machines share one stage."""
    return max(1, int(getattr(settings, "HANDOVER_PARTITIONS", 4)))


def partition_bounds(index: int, parts: int) -> tuple[uuid.UUID, uuid.UUID | None]:
    """The customer-id range [lower, upper) of one partition (the last one is open-ended)."""
    span = 2**128 // parts
    lower = uuid.UUID(int=index * span)
    upper = None if index == parts - 1 else uuid.UUID(int=(index + 1) * span)
    return lower, upper


def run_stage(stage_id: Any) -> str:
    """Claim (or resume) a stage and fan its partitions out; safe to call any number of
    times for the same stage. Aggregate stages are computed here in one go."""
    lease = uuid.uuid4().hex
    claimed = _claim(stage_id, lease)
    if claimed is None:
        return "not claimed"
    stage, approval = claimed
    if approval is None:
        return "refused"
    if stage.kind == StageKind.AGGREGATE:
        try:
            _complete(stage, lease, result=_aggregate(stage, approval))
        except LeaseLost:
            return "lease lost"
        return "delivered"
    parts = partitions()
    for index in range(parts):
        # If the broker fails here (bounded by ENQUEUE_TIMEOUT) the stage stays running
        # without progress, and the sweeper resumes it once its heartbeat is stale.
        jobs.enqueue("transfers.tasks.handover_run_part", str(stage.pk), lease, index, parts)
    return f"{parts} partitions enqueued"


def run_part(stage_id: Any, lease: str, index: int, parts: int) -> str:
    """Hand over one partition of a running stage, then complete the stage if nothing is
    left anywhere. Idempotent: only customers without an item in the stage are processed."""
    stage = HandoverStage.objects.select_related("deal", "deal__data_key").get(pk=stage_id)
    if stage.status != StageStatus.RUNNING or stage.lease != lease:
        return "stale message"
    refusal, approval = run_refusal(stage, notices=False)
    if refusal is not None or approval is None:
        _refuse(stage, refusal or RunRefusal.NOT_APPROVED, lease=lease)
        return "refused"
    with _partition_lock(stage.pk, index) as held:
        if not held:
            return "partition held by a live worker"
        try:
            _items(stage, approval, lease, *partition_bounds(index, parts))
        except LeaseLost:
            logger.info("stage %s: lease lost to another worker", stage_id)
            return "lease lost"
        except CryptoError as exc:
            # A destroyed key or a missing master key will not heal by retrying.
            with transaction.atomic():
                failed = HandoverStage.objects.filter(pk=stage.pk, lease=lease).update(
                    status=StageStatus.FAILED, failure_reason=str(exc)[:2000]
                )
                if failed:
                    tell_stage(stage, Kind.STAGE_FAILED)
            raise
    if _anything_pending(stage, approval, (index + 1) % parts, parts):
        return "partition done"
    try:
        _complete(stage, lease)
    except LeaseLost:
        return "completed elsewhere"
    return "delivered"


@contextmanager
def _partition_lock(stage_id: Any, index: int) -> Iterator[bool]:
    """One worker per partition at a time, on PostgreSQL: a session advisory lock that the
    database releases by itself when the holder's connection dies (a killed worker)."""
    conn = connection
    if conn.vendor != "postgresql":
        yield True
        return
    key = int.from_bytes(hashlib.sha256(f"{stage_id}|{index}".encode()).digest()[:4], "big")
    key -= 2**31  # int4 range
    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [PARTITION_LOCK_CLASS, key])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with conn.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [PARTITION_LOCK_CLASS, key])


def _anything_pending(
    stage: HandoverStage, approval: StageApproval, start: int = 0, parts: int = 1
) -> bool:
    """Whether an eligible customer of the stage's approved population has no item yet.

    Range by range, starting with partition ``start`` (the one after the caller's: while
    partitions run, the next one is the likeliest to be unfinished), stopping at the first
    range with work left. Each range is asked cheaply first: a range runs in customer-id
    order, so while its highest eligible customer has no item it is unfinished (two index
    probes). Only a range that looks finished is checked exactly, for customers skipped
    below the cursor (one who became eligible during the run). That check is an ``EXCEPT``
    rather than a ``NOT EXISTS``: a stage's items are new rows whose statistics lag behind,
    and on an anti-join the planner may then pick a nested loop that rescans every stored
    item for each customer (quadratic in the stage's size); a set difference is hashed or
    sorted, linear whatever the statistics say.
    """
    for offset in range(parts):
        lower, upper = partition_bounds((start + offset) % parts, parts)
        members = approved_members(approval).filter(customer_id__gte=lower)
        stored = HandoverItem.objects.filter(stage_id=stage.pk, customer_id__gte=lower)
        if upper is not None:
            members = members.filter(customer_id__lt=upper)
            stored = stored.filter(customer_id__lt=upper)
        # The range on both sides: this range's approved customers only, not all of them.
        customers = (
            eligible(stage_selection(stage))
            .filter(pk__in=members.values("customer_id"), pk__gte=lower)
            .order_by()
        )
        if upper is not None:
            customers = customers.filter(pk__lt=upper)
        top = customers.order_by("-pk").values_list("pk", flat=True).first()
        if top is None:
            continue
        top_stored = stored.order_by("-customer_id").values_list("customer_id", flat=True).first()
        if top_stored is None or top_stored < top:
            return True
        pending = customers.values_list("pk", flat=True).difference(
            stored.order_by().values_list("customer_id", flat=True)
        )
        if pending.exists():
            return True
    return False


@transaction.atomic
def _claim(stage_id: Any, lease: str) -> tuple[HandoverStage, StageApproval | None] | None:
    """Claim the stage for this worker; ``(stage, None)`` when it was refused (failed, with
    its reason and event: see ``run_refusal``), None when there is nothing to claim."""
    stage = HandoverStage.objects.select_for_update().select_related("deal").get(pk=stage_id)
    now = timezone.now()
    if stage.status == StageStatus.APPROVED:
        resumed = False
    elif stage.status == StageStatus.RUNNING and (
        stage.heartbeat_at is None or stage.heartbeat_at < now - stale_after()
    ):
        resumed = True
    else:
        return None  # delivered, cancelled, or a live worker holds it
    refusal, approval = run_refusal(stage)
    if refusal is not None or approval is None:
        _refuse(stage, refusal or RunRefusal.NOT_APPROVED)
        return stage, None
    stage.status = StageStatus.RUNNING
    stage.lease = lease
    stage.heartbeat_at = now
    if not resumed:
        stage.started_at = now
        stage.total = approved_population(stage, approval).count()
        stage.done = 0
    else:
        stage.done = stage.items.count()
    stage.save(update_fields=["status", "lease", "heartbeat_at", "started_at", "total", "done"])
    # The first stage that moves puts the deal in handover (conditional: never backwards).
    TransferDeal.objects.filter(
        pk=stage.deal_id, status__in=(DealStatus.DRAFT, DealStatus.NOTICE_PERIOD)
    ).update(status=DealStatus.IN_HANDOVER)
    record_event(
        action=AuditAction.HANDOVER_INTERRUPTED if resumed else AuditAction.HANDOVER_STARTED,
        obj=stage,
        deal=stage.deal_id,
        details={"done": stage.done, "total": stage.total, "resumed": resumed},
    )
    return stage, approval


def _items(
    stage: HandoverStage,
    approval: StageApproval,
    lease: str,
    lower: uuid.UUID,
    upper: uuid.UUID | None,
) -> None:
    """Store the items of one customer-id range, a chunk per transaction.

    Each chunk is one transaction holding its items and the stage's progress and heartbeat
    (one conditional update per chunk, so a worker that lost its lease rolls the chunk back).
    A chunk is the next customers of the approval's frozen population (a keyset cursor on
    its unique index), whose rows are read as plain tuples in customer-id order, the
    customers and the approval both bounded to the chunk's id range, so the semi-join costs
    the chunk's size whatever the stage's (the ORM builds the SQL, so the selection and the
    exclusions are the selectors' own: who objected after approval is left out); customers
    that already have an item (a resumed or redelivered run) are skipped before any
    decryption, with one index range lookup per chunk rather than an anti-join (see
    ``_anything_pending``); the items are written with one bulk statement per chunk (see
    ``_ItemWriter``), which inserts nobody twice.
    """
    import json

    deal = stage.deal
    deal_key = deal.data_key.unwrap()
    sealer = aead.Cipher(deal_key)
    pkey = pseudonym_key(deal_key) if stage.kind == StageKind.PSEUDONYMISED else None
    reader = _RowReader(snapshot_fields(stage))
    members = approved_members(approval).filter(customer_id__gte=lower)
    if upper is not None:
        members = members.filter(customer_id__lt=upper)
    members = members.order_by("customer_id")
    selection = eligible(stage_selection(stage)).filter(pk__gte=lower)
    if upper is not None:
        selection = selection.filter(pk__lt=upper)
    rows = selection.order_by("pk").values_list(*reader.columns)
    # Customers of the range that already have an item (a resumed or redelivered run): read
    # once, so they are skipped before any decryption. One range read per partition rather
    # than a lookup per chunk: the planner may serve either through the stage index, which
    # scans every item of the stage.
    stored_in_range = HandoverItem.objects.filter(stage_id=stage.pk, customer_id__gte=lower)
    if upper is not None:
        stored_in_range = stored_in_range.filter(customer_id__lt=upper)
    stored = {str(pk) for pk in stored_in_range.values_list("customer_id", flat=True)}
    writer = _ItemWriter(stage.pk, deal.buyer_id)
    size = chunk_size()
    stage_text = str(stage.pk)
    identified = stage.kind != StageKind.PSEUDONYMISED
    encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    encode, sha256, aad = encoder.encode, hashlib.sha256, HandoverItem.aad
    last: Any = None
    while last is not _END:
        with transaction.atomic():
            # The chunk: the next ``size`` approved customers, bounded by the id of the last
            # of them (one index-only probe), so that both sides of the semi-join below are
            # ranges of the chunk's size; the rest of the partition when fewer are left.
            pending = members if last is None else members.filter(customer_id__gt=last)
            edge = list(pending.values_list("customer_id", flat=True)[size - 1 : size])
            chunk = rows if last is None else rows.filter(pk__gt=last)
            if edge:
                pending = pending.filter(customer_id__lte=edge[0])
                chunk = chunk.filter(pk__lte=edge[0])
            batch = _fetch(chunk.filter(pk__in=pending.values("customer_id")), size)
            last = edge[0] if edge else _END
            for row in batch:
                if stored and str(row[0]) in stored:
                    continue
                text_id, values = reader.read(row)
                # The canonical document (``build_snapshot``, inlined: this loop is the cost).
                document: dict[str, Any] = {"stage": stage_text, "fields": values}
                if identified:
                    document["customer"] = text_id
                else:
                    document["pseudonym"] = pseudonym(pkey, uuid.UUID(text_id))  # type: ignore[arg-type]
                canonical = encode(document).encode()
                writer.add(
                    text_id,
                    sealer.encrypt(canonical, aad(stage_text, text_id)),
                    sha256(canonical).hexdigest(),
                )
            now = timezone.now()
            added = writer.flush(now)
            moved = HandoverStage.objects.filter(
                pk=stage.pk, lease=lease, status=StageStatus.RUNNING
            ).update(done=F("done") + added, heartbeat_at=now)
            if moved != 1:
                raise LeaseLost


#: ``_items``' cursor once the last chunk of a range is done.
_END = object()


def _fetch(rows: Any, size: int) -> list[tuple[Any, ...]]:
    """One chunk of rows. On PostgreSQL the ORM's SQL runs on a raw cursor: the values are
    already what the reader needs, and Django's per-value converters (a third of the reading
    time) are skipped. Elsewhere (SQLite stores UUIDs as hex text) the ORM converts."""
    chunk = rows[:size]
    if connection.vendor != "postgresql":
        return list(chunk)
    import psycopg2.extensions

    sql, params = chunk.query.get_compiler(connection=connection).as_sql()
    with connection.cursor() as cursor:
        # UUIDs as text on this cursor only: the snapshot and the associated data want text,
        # and a UUID object per id and data key costs as much as decrypting a field.
        psycopg2.extensions.register_type(_UUID_AS_TEXT, cursor.cursor)
        cursor.execute(sql, params)
        return cursor.fetchall()


def _uuid_as_text() -> Any:
    try:
        import psycopg2.extensions
    except ImportError:  # SQLite-only installs
        return None
    return psycopg2.extensions.new_type((2950,), "TD_UUID_AS_TEXT", lambda value, cursor: value)


#: psycopg2 type caster: PostgreSQL's uuid (type oid 2950) read as its text.
_UUID_AS_TEXT = _uuid_as_text()


class _ItemWriter:
    """Writes a chunk of items in one go, each customer at most once per stage.

    On PostgreSQL the chunk is COPYed into a temporary table (emptied first: a chunk may run
    in a savepoint of a longer transaction, where no commit would empty it) and moved
    with one ``INSERT … SELECT … ON CONFLICT (stage, customer) DO NOTHING``: COPY costs a
    fraction of a multi-row ``VALUES`` statement (no per-value quoting on either side), and
    the conflict clause keeps a chunk done twice from storing anyone twice. Elsewhere
    ``bulk_create(ignore_conflicts=True)``, the same statement.
    """

    #: Table and column names are the model's own, never input.
    BUFFER = "transfers_handoveritem_buffer"
    CREATE = (
        "CREATE TEMPORARY TABLE IF NOT EXISTS {buffer} "
        "(customer_id uuid, snapshot bytea, digest varchar(64))"
    )
    MOVE = (
        "INSERT INTO {table} (stage_id, customer_id, recipient_id, snapshot, digest, created_at)"
        " SELECT %s, customer_id, %s, snapshot, digest, %s FROM {buffer}"
        " ON CONFLICT (stage_id, customer_id) DO NOTHING"
    )

    def __init__(self, stage_id: Any, recipient_id: int) -> None:
        self.stage_id = stage_id
        self.recipient_id = recipient_id
        self.copy = connection.vendor == "postgresql"
        self.lines: list[str] = []
        self.rows: list[tuple[str, bytes, str]] = []

    def add(self, customer_id: str, snapshot: bytes, digest: str) -> None:
        if self.copy:
            # COPY text format: tab-separated, bytea as \\x hex (its backslash escaped).
            self.lines.append(f"{customer_id}\t\\\\x{snapshot.hex()}\t{digest}\n")
        else:
            self.rows.append((customer_id, snapshot, digest))

    def flush(self, now: Any) -> int:
        """Store what was added, inside the caller's transaction; how many items are new."""
        if self.copy:
            return self._flush_copy(now)
        rows, self.rows = self.rows, []
        stored = HandoverItem.objects.filter(stage_id=self.stage_id)
        before = stored.count()
        HandoverItem.objects.bulk_create(
            [
                HandoverItem(
                    stage_id=self.stage_id,
                    customer_id=customer_id,
                    recipient_id=self.recipient_id,
                    snapshot=snapshot,
                    digest=digest,
                    created_at=now,
                )
                for customer_id, snapshot, digest in rows
            ],
            ignore_conflicts=True,
        )
        return stored.count() - before

    def _flush_copy(self, now: Any) -> int:
        import io

        lines, self.lines = self.lines, []
        with connection.cursor() as cursor:
            cursor.execute(self.CREATE.format(buffer=self.BUFFER))
            cursor.execute(f"TRUNCATE {self.BUFFER}")
            cursor.cursor.copy_expert(
                f"COPY {self.BUFFER} (customer_id, snapshot, digest) FROM STDIN",
                io.StringIO("".join(lines)),
            )
            cursor.execute(
                self.MOVE.format(table=HandoverItem._meta.db_table, buffer=self.BUFFER),
                [self.stage_id, self.recipient_id, now],
            )
            return cursor.rowcount


def _aggregate(stage: HandoverStage, approval: StageApproval) -> dict[str, Any]:
    """Statistics by segment and country of the approved population; cells under the
    threshold are suppressed."""
    rows = approved_population(stage, approval).values_list("segment", "country")
    by_segment: Counter[str] = Counter()
    by_country: Counter[str] = Counter()
    total = 0
    for segment, country in rows.iterator(chunk_size=5000):
        by_segment[segment or "—"] += 1
        by_country[country or "—"] += 1
        total += 1

    from . import disclosure

    # Small cells are hidden, and so are as many more (or the total) as it takes for none of
    # them to be worked out by subtraction (transfers/disclosure.py).
    protected = disclosure.protect(
        {"by_segment": by_segment, "by_country": by_country}, total, SMALL_CELL_THRESHOLD
    )

    def cells(name: str, counter: Counter[str]) -> list[dict[str, Any]]:
        hidden = protected.hidden[name]
        return [
            {"value": key, "customers": None if key in hidden else n}
            for key, n in sorted(counter.items())
        ]

    HandoverStage.objects.filter(pk=stage.pk).update(done=total, heartbeat_at=timezone.now())
    return {
        "customers": total if protected.total_shown else None,
        "by_segment": cells("by_segment", by_segment),
        "by_country": cells("by_country", by_country),
        "suppressed_cells": protected.hidden_cells,
        "threshold": SMALL_CELL_THRESHOLD,
    }


@transaction.atomic
def _complete(stage: HandoverStage, lease: str, result: dict[str, Any] | None = None) -> None:
    stage = (
        HandoverStage.objects.select_for_update()
        .select_related("deal", "deal__buyer")
        .get(pk=stage.pk)
    )
    if stage.lease != lease or stage.status != StageStatus.RUNNING:
        raise LeaseLost
    count = stage.items.count()
    root = signing.merkle_root(digest for _name, digest in receipt_items(stage))
    aggregate_digest = ""
    if result is not None:
        aggregate_digest = hashlib.sha256(signing.canonical_json(result)).hexdigest()
    selection = stage_selection(stage)
    exclusions = exclusion_counts(selection)
    now = timezone.now()
    stage.status = StageStatus.DELIVERED
    stage.delivered_at = now
    stage.heartbeat_at = now
    stage.exclusions = exclusions
    stage.skipped = sum(exclusions.values())
    if result is not None:
        stage.result = result
    else:
        stage.done = stage.total = count
    stage.lease = ""
    stage.save(
        update_fields=[
            "status", "delivered_at", "heartbeat_at", "exclusions", "skipped", "result",
            "done", "total", "lease",
        ]
    )  # fmt: skip
    record_event(
        action=AuditAction.HANDOVER_COMPLETED,
        obj=stage,
        deal=stage.deal_id,
        details={"items": count, "merkle_root": root, "excluded": exclusions},
    )
    tell_stage(stage, Kind.STAGE_DELIVERED)
    events.stage_delivered.send(sender=HandoverStage, stage_id=stage.pk, deal_id=stage.deal_id)
    # The head now includes the completion event; the manifest only adds one quick insert
    # while the chain lock is held.
    head = chain_head()
    counts_per_tier = dict.fromkeys(stage.tier_scope, count) if result is None else {}
    body = manifest_body(stage, count, counts_per_tier, root, aggregate_digest, head, now)
    signature, _public, fingerprint = signing.sign(body)
    StageManifest.objects.create(
        stage=stage,
        item_count=count,
        counts_per_tier=counts_per_tier,
        merkle_root=root,
        chain_head_seq=head.seq,
        chain_head_mac=head.mac,
        created_at=now,
        body=body,
        signature=signature,
        key_fingerprint=fingerprint,
    )


def manifest_body(
    stage: HandoverStage,
    count: int,
    counts_per_tier: dict[str, int],
    root: str,
    aggregate_digest: str,
    head: Any,
    when: Any,
) -> dict[str, Any]:
    deal = stage.deal
    return {
        "format": signing.MANIFEST_FORMAT,
        "deal": {"id": str(deal.pk), "reference": deal.reference},
        "stage": {
            "id": str(stage.pk),
            "order": stage.order,
            "name": stage.name,
            "kind": stage.kind,
            "tier_scope": list(stage.tier_scope),
        },
        "recipient": {"id": deal.buyer_id, "name": deal.buyer.legal_name},
        "item_count": count,
        "counts_per_tier": counts_per_tier,
        "merkle_root": root,
        "aggregate_digest": aggregate_digest,
        "exclusions": stage.exclusions,
        "chain_head": {"seq": head.seq, "mac": head.mac, "events": head.events},
        "completed_at": when.isoformat(),
    }


# --- the sweeper ----------------------------------------------------------------------------


def stalled_stages(*, older_than: timedelta | None = None) -> list[Any]:
    """Approved stages that never started and running stages whose progress stopped."""
    cutoff = timezone.now() - (stale_after() if older_than is None else older_than)
    return list(
        HandoverStage.objects.filter(
            Q(status=StageStatus.APPROVED, approved_at__lte=cutoff)
            | Q(status=StageStatus.RUNNING, heartbeat_at__lte=cutoff)
            | Q(status=StageStatus.RUNNING, heartbeat_at__isnull=True)
        ).values_list("pk", flat=True)
    )


def sweep(*, older_than: timedelta | None = None) -> int:
    """Re-enqueue stalled stages (the stage row, not the broker, is the source of truth)."""
    from .services import enqueue_stage

    ids = stalled_stages(older_than=older_than)
    for stage_id in ids:
        logger.info("sweeper: re-enqueueing stalled handover stage %s", stage_id)
        enqueue_stage(stage_id)
    return len(ids)
