"""Retention and destruction: policies, legal holds, the preview, the purge, erasure requests,
deal destruction and the destruction certificate (DESIGN.md guarantees 2 and 9).

How a customer is destroyed (crypto-shredding first, then the rows):

1. Their data key is wiped (``DataKey`` keeps a tombstone with ``destroyed_at``; that row is
   the destruction ledger that ``restore`` re-applies). From this statement on, every value
   ever encrypted under it — live rows, history rows, copies in old backups — is unreadable.
2. Their history rows are deleted, and the snapshots handed over in TransferDesk are wiped
   (those are encrypted under the *deal* key, which a customer purge does not destroy, so the
   ciphertext itself is removed; GDPR art. 19 notification to the buyer is the deal's task).
3. Their rows are deleted (``destroy``) or stripped of everything but statistics
   (``anonymise``: general fields stay, encrypted columns become NULL, the reference becomes a
   hash).
4. A tombstone keeps the reference hash, the policy and the time; an audit event per chunk
   names the run, the counts and the tombstone range — never a person.

The purge works in chunks, each one transaction: a run that dies half-way is resumed by
running it again (the selection is recomputed from what is still there), so it is idempotent.
Bulk statements per chunk (not per customer) are what make it fast: see
``benchmarks/purge.py``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import io
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, models, transaction
from django.db.models import BooleanField, Count, Exists, F, Max, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.choices import Role
from customers import erasure
from customers.choices import CustomerStatus, Tier
from customers.models import Customer, Interaction, Organization, PurchaseRecord
from customers.registry import fields_of
from customers.services import import_uploads_shred_for_erasure
from transferdesk import jobs
from transferdesk.crypto.blind_index import SETTING as BLIND_INDEX_SETTING
from transferdesk.crypto.keyring import decode_key
from transferdesk.jobs import job_fail, job_progress, job_running
from transferdesk.models import DataKey
from transferdesk.trail import AuditAction, chain_head, record_event
from transfers.choices import AssignmentRole, DealStatus
from transfers.events import deal_cancelled
from transfers.models import (
    DealAssignment,
    HandoverItem,
    StageManifest,
    TransferDeal,
    TransferDealUserObjectPermission,
)
from transfers.portal_services import followups_for_erased_customers

from .models import (
    DealDestruction,
    DestructionCertificate,
    DestructionTombstone,
    LegalHold,
    PurgeRun,
    RetentionPolicy,
)
from .models.retention import (
    CertificateKind,
    DealDestructionReason,
    DealDestructionStatus,
    PurgeStatus,
    RetentionAction,
    RetentionCategory,
    RetentionEvent,
)

logger = logging.getLogger(__name__)

#: Customers per purge transaction: big enough for bulk statements to pay, small enough that a
#: crash loses little work and the audit lock is held briefly.
CHUNK_SIZE = 2000
#: Class of the PostgreSQL advisory locks that keep one run per policy ("tdpg" in ASCII).
POLICY_LOCK_CLASS = 0x74647067
#: Deal statuses after which the deal counts as ended for ``RetentionEvent.DEAL_ENDED``.
DEAL_ENDED_STATUSES = ("completed", "cancelled")


# --- small helpers ---------------------------------------------------------------------------


def reference_hash(customer_id: uuid.UUID | str) -> str:
    """HMAC-SHA256 (blind-index key, own domain) of a customer id: the only thing a tombstone
    and a certificate say about whom they concern. Keyed, so a list of ids cannot be checked
    against it without the key; the seller, holding the key, can answer "was X destroyed?"."""
    key = _tombstone_key(getattr(settings, BLIND_INDEX_SETTING, "") or "")
    message = b"transferdesk/tombstone/v1\x00" + str(customer_id).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=4)
def _tombstone_key(raw: str) -> bytes:
    # Cached per setting text (so override_settings still works): a purge hashes thousands.
    return decode_key(raw.strip(), what=BLIND_INDEX_SETTING)


def backup_retention() -> timedelta:
    return timedelta(days=int(getattr(settings, "TRANSFERDESK_BACKUP_RETENTION_DAYS", 30)))


def no_backup_after(destroyed_at: datetime) -> datetime:
    """After this moment no retained backup can hold a key destroyed at ``destroyed_at``.

    The newest backup that can hold the key was taken just before the destruction; backups
    are pruned once older than the retention setting, at the next nightly run. So: destruction
    time + retention + one day of pruning cadence.
    """
    return destroyed_at + backup_retention() + timedelta(days=1)


def _require_compliance(actor: Any) -> None:
    if actor is not None and not actor.has_role(Role.COMPLIANCE):
        raise PermissionDenied(_("Only compliance officers manage retention and destruction."))


# --- policies and holds -----------------------------------------------------------------------


@transaction.atomic(durable=True)
def policy_save(
    *,
    actor: Any,
    organization: Organization,
    category: str,
    event: str,
    period_days: int,
    action: str,
    policy: RetentionPolicy | None = None,
) -> RetentionPolicy:
    """Create or change a policy. Any change of its rule withdraws the confirmation: the new
    rule's preview must be seen before it runs."""
    _require_compliance(actor)
    policy = policy or RetentionPolicy(organization=organization, created_by=actor)
    policy.organization = organization
    policy.category = category
    policy.event = event
    policy.period_days = period_days
    policy.action = action
    if category != RetentionCategory.CUSTOMER_RECORD and event not in (
        RetentionEvent.RECORD_DATE,
        RetentionEvent.CONTRACT_END,
        RetentionEvent.CUSTOMER_SINCE,
        RetentionEvent.LAST_INTERACTION,
        RetentionEvent.DEAL_ENDED,
    ):
        raise ValidationError({"event": _("This event does not apply to this category.")})
    policy.confirmed_at = None
    policy.confirmed_by = None
    policy.confirmed_preview = {}
    policy.full_clean()
    policy.save()
    record_event(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=policy,
        details={
            "organization": organization.pk,
            "category": category,
            "event": event,
            "period_days": period_days,
            "retention_action": action,
        },
    )
    return policy


@transaction.atomic(durable=True)
def policy_confirm(*, actor: Any, policy: RetentionPolicy) -> RetentionPolicy:
    """Compliance has seen the preview and lets the policy run; the preview seen is kept."""
    _require_compliance(actor)
    preview = policy_preview(policy)
    updated = RetentionPolicy.objects.filter(pk=policy.pk, confirmed_at__isnull=True).update(
        confirmed_at=timezone.now(), confirmed_by=actor, confirmed_preview=preview.as_json()
    )
    if not updated:
        raise ValidationError(_("This policy was already confirmed."))
    policy.refresh_from_db()
    record_event(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=policy,
        details={"confirmed": True, "due": preview.due, "held": preview.held},
    )
    return policy


@transaction.atomic(durable=True)
def legal_hold_place(
    *, actor: Any, reason: str, customer: Customer | None = None, deal: Any = None
) -> LegalHold:
    """Block every purge of one customer or of every customer of one deal's seller book."""
    _require_compliance(actor)
    hold = LegalHold(customer=customer, deal=deal, reason=reason.strip(), placed_by=actor)
    hold.full_clean()
    if customer is not None and customer.status == CustomerStatus.ERASED:
        raise ValidationError(_("This customer was already erased: there is nothing to hold."))
    active = LegalHold.objects.filter(released_at__isnull=True)
    if customer is not None and active.filter(customer=customer).exists():
        raise ValidationError(_("This customer is already under an active legal hold."))
    if deal is not None and active.filter(deal=deal).exists():
        raise ValidationError(_("This deal is already under an active legal hold."))
    hold.save(force_insert=True)
    record_event(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=hold,
        deal=deal,
        details={"legal_hold": "placed", "customer": customer.pk if customer else None},
    )
    return hold


@transaction.atomic(durable=True)
def legal_hold_release(*, actor: Any, hold: LegalHold) -> LegalHold:
    _require_compliance(actor)
    updated = LegalHold.objects.filter(pk=hold.pk, released_at__isnull=True).update(
        released_at=timezone.now(), released_by=actor
    )
    if not updated:
        raise ValidationError(_("This hold was already released."))
    hold.refresh_from_db()
    record_event(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=hold,
        deal=hold.deal_id,
        details={"legal_hold": "released", "customer": hold.customer_id},
    )
    return hold


# --- selection --------------------------------------------------------------------------------


def _held_q(prefix: str = "") -> Q:
    """Customers (reached by ``prefix``) that a purge must not touch, whatever the policy."""
    held_deals = LegalHold.objects.filter(
        deal__seller_id=OuterRef(f"{prefix}organization_id"), released_at__isnull=True
    )
    held_customers = LegalHold.objects.filter(
        customer_id=OuterRef(f"{prefix}pk" if not prefix else f"{prefix}id"),
        released_at__isnull=True,
    )
    return (
        Q(**{f"{prefix}status": CustomerStatus.LEGAL_HOLD})
        | Q(Exists(held_customers))
        | Q(Exists(held_deals))
    )


def _anchor_q(event: str, cutoff: date, prefix: str = "") -> Q:
    """Customers (reached by ``prefix``) whose retention period, counted from ``event``, ended
    on or before today (the anchor is on or before ``cutoff``)."""
    if event == RetentionEvent.CONTRACT_END:
        return Q(**{f"{prefix}retention_until__lte": cutoff})
    if event == RetentionEvent.CUSTOMER_SINCE:
        return Q(**{f"{prefix}customer_since__lte": cutoff})
    if event == RetentionEvent.RECORD_DATE:
        return Q(**{f"{prefix}created_at__date__lte": cutoff})
    if event == RetentionEvent.LAST_INTERACTION:
        recent = Interaction.objects.filter(
            customer_id=OuterRef(f"{prefix}pk" if not prefix else f"{prefix}id"),
            occurred_on__gt=cutoff,
        )
        return ~Q(Exists(recent)) & Q(**{f"{prefix}created_at__date__lte": cutoff})
    if event == RetentionEvent.DEAL_ENDED:
        # The deal records no closing time yet; its target closing date stands in (and a
        # deal without one counts from its creation).
        ended = HandoverItem.objects.filter(
            customer_id=OuterRef(f"{prefix}pk" if not prefix else f"{prefix}id"),
            stage__deal__status__in=DEAL_ENDED_STATUSES,
        ).filter(
            Q(stage__deal__target_closing_date__lte=cutoff)
            | Q(
                stage__deal__target_closing_date__isnull=True,
                stage__deal__created_at__date__lte=cutoff,
            )
        )
        return Q(Exists(ended))
    raise ValueError(f"unknown retention event {event!r}")


def _cutoff(policy: RetentionPolicy, today: date | None = None) -> date:
    return (today or timezone.localdate()) - timedelta(days=policy.period_days)


def due_customers(policy: RetentionPolicy, *, held: bool = False) -> QuerySet[Customer]:
    """Customers a ``customer_record`` policy would purge today (``held=True``: those it would
    purge but for a legal hold)."""
    queryset = Customer.objects.filter(organization_id=policy.organization_id).exclude(
        status=CustomerStatus.ERASED
    )
    queryset = queryset.filter(_anchor_q(policy.event, _cutoff(policy)))
    return queryset.filter(_held_q()) if held else queryset.exclude(_held_q())


def due_records(policy: RetentionPolicy, *, held: bool = False) -> QuerySet[Any]:
    """Purchase or interaction rows a category policy would purge today."""
    model: type[models.Model] = (
        PurchaseRecord if policy.category == RetentionCategory.PURCHASES else Interaction
    )
    date_field = "purchased_on" if model is PurchaseRecord else "occurred_on"
    cutoff = _cutoff(policy)
    queryset = model._default_manager.filter(
        customer__organization_id=policy.organization_id
    ).exclude(customer__status=CustomerStatus.ERASED)
    if policy.event == RetentionEvent.RECORD_DATE:
        queryset = queryset.filter(**{f"{date_field}__lte": cutoff})
    else:
        queryset = queryset.filter(_anchor_q(policy.event, cutoff, "customer__"))
    if policy.action == RetentionAction.ANONYMISE:
        sensitive = fields_of(model, Tier.SENSITIVE)
        queryset = queryset.filter(
            Q.create([(f"{name}__isnull", False) for name in sensitive], connector=Q.OR)
        )
    held_q = _held_q("customer__")
    return queryset.filter(held_q) if held else queryset.exclude(held_q)


@dataclass
class PolicyPreview:
    """What a policy would do today: counts only, never names."""

    policy: RetentionPolicy
    due: int = 0
    held: int = 0
    purchases: int = 0
    interactions: int = 0
    hold_reasons: list[tuple[str, int]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "due": self.due,
            "held": self.held,
            "purchases": self.purchases,
            "interactions": self.interactions,
            "computed_at": timezone.now().isoformat(),
        }


def policy_preview(policy: RetentionPolicy) -> PolicyPreview:
    """Counts per category of what the policy would purge now, and what holds keep back."""
    preview = PolicyPreview(policy=policy)
    if policy.category == RetentionCategory.CUSTOMER_RECORD:
        due = due_customers(policy)
        held = due_customers(policy, held=True)
        preview.due = due.count()
        preview.purchases = PurchaseRecord.objects.filter(customer__in=due).count()
        preview.interactions = Interaction.objects.filter(customer__in=due).count()
        held_ids: Any = held.values("pk")
    else:
        due_rows = due_records(policy)
        held_rows = due_records(policy, held=True)
        count = due_rows.count()
        preview.due = count
        if policy.category == RetentionCategory.PURCHASES:
            preview.purchases = count
        else:
            preview.interactions = count
        held_ids = held_rows.values("customer_id")
    held_customers = Customer.objects.filter(pk__in=held_ids)
    preview.held = held_customers.count()
    if preview.held:
        preview.hold_reasons = _hold_reasons(held_customers)
    return preview


def _hold_reasons(held: QuerySet[Customer]) -> list[tuple[str, int]]:
    """Why held customers are kept: each active hold's reason with how many it keeps."""
    reasons: Counter[str] = Counter()
    by_status = held.filter(status=CustomerStatus.LEGAL_HOLD).count()
    if by_status:
        reasons[str(CustomerStatus.LEGAL_HOLD.label)] += by_status
    for reason, n in (
        LegalHold.objects.filter(customer__in=held, released_at__isnull=True)
        .values_list("reason")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        reasons[reason] += n
    organization_ids = held.values("organization_id")
    for reference, reason in LegalHold.objects.filter(
        deal__seller_id__in=organization_ids, released_at__isnull=True
    ).values_list("deal__reference", "reason"):
        label = _("Deal {reference}: {reason}").format(reference=reference, reason=reason)
        reasons[label] += held.count()
    return reasons.most_common()


# --- the purge --------------------------------------------------------------------------------


@dataclass
class PurgeOutcome:
    """The result of one run (or a dry run) for the command's summary line."""

    run: PurgeRun | None
    policy: RetentionPolicy | None
    customers: int = 0
    rows: int = 0
    dry_run: bool = False
    skipped_unconfirmed: bool = False
    #: Another process was running this policy: this call did nothing (no run, no failure).
    already_running: bool = False


def _merge(counts: dict[str, Any], add: dict[str, int]) -> dict[str, Any]:
    merged = dict(counts)
    for key, value in add.items():
        merged[key] = int(merged.get(key, 0)) + int(value)
    return merged


def _shred_customers(
    *, run: PurgeRun, policy: RetentionPolicy | None, action: str, ids: list[uuid.UUID], actor: Any
) -> int:
    """Crypto-shred one chunk of customers inside the caller's transaction; returns how many.

    Held customers are filtered out again here, under the transaction, so a hold placed
    between selection and purge still wins.
    """
    C = Customer
    # Locked (PostgreSQL): a second shredder of the same customers (an erasure during a purge)
    # waits for this transaction, then reads them again and finds them gone or erased, instead
    # of destroying nothing and failing on the tombstone's unique reference hash.
    rows = list(
        C.objects.select_for_update(of=("self",))
        .filter(_Bulk(ids).where("customers_customer", "id"))
        .exclude(status=CustomerStatus.ERASED)
        .exclude(_held_q())
        .values_list("pk", "data_key_id", "organization_id")
    )
    if not rows:
        return 0
    ids = [row[0] for row in rows]
    key_ids = [row[1] for row in rows]
    now = timezone.now()
    sensitive, core = fields_of(C, Tier.SENSITIVE), fields_of(C, Tier.CORE)
    bulk = _Bulk(ids)
    tier_counts = C.objects.filter(bulk.where("customers_customer", "id")).aggregate(
        **{f"s_{name}": Count(name) for name in sensitive},
        **{f"c_{name}": Count(name) for name in core},
    )
    counts = {
        "customer_record.customers": len(ids),
        "customer_record.general": len(ids) * len(fields_of(C, Tier.GENERAL)),
        "customer_record.sensitive": sum(v for k, v in tier_counts.items() if k[0] == "s"),
        "customer_record.core": sum(v for k, v in tier_counts.items() if k[0] == "c"),
    }
    # 1. Crypto-shredding: from here on nothing under these keys can be read, anywhere.
    destroyed = bulk.destroy_keys(key_ids, now)
    # Uploaded files of these books still kept for an import may hold these customers too.
    import_uploads_shred_for_erasure(organization_ids=sorted({row[2] for row in rows}), actor=actor)
    # 2. History rows and handed-over snapshots (the snapshots are under the deal key, so
    # their ciphertext itself goes).
    counts["history.rows"] = sum(
        bulk.delete(model, column) for model, column in erasure.history_models()
    )
    # GDPR art. 19 (guarantee 9): every recipient of a handed-over copy must delete theirs;
    # their tasks are created here, in the chunk's transaction, for purges and erasures alike.
    counts["snapshots.followups"] = (
        followups_for_erased_customers(customer_ids=ids, actor=actor)
        if bulk.exists(HandoverItem, "customer_id")  # most chunks hold nobody handed over
        else 0
    )
    counts["snapshots.wiped"] = bulk.wipe_snapshots(HandoverItem)
    # 3. The rows themselves.
    hashes = {pk: reference_hash(pk) for pk in ids}
    if action == RetentionAction.DESTROY:
        counts["purchases.rows"] = bulk.delete(PurchaseRecord, "customer_id")
        counts["interactions.rows"] = bulk.delete(Interaction, "customer_id")
        bulk.delete(LegalHold, "customer_id")  # released holds only: held ones were excluded
        bulk.delete(C, "id")
    else:
        counts["purchases.rows"] = PurchaseRecord.objects.filter(customer_id__in=ids).count()
        counts["interactions.rows"] = Interaction.objects.filter(customer_id__in=ids).count()
        erasure.anonymise(ids, hashes)
    # 4. Tombstones and the trail.
    organization_of = {row[0]: row[2] for row in rows}
    key_of = {row[0]: row[1] for row in rows}
    first = bulk.tombstones(
        [(hashes[pk], organization_of[pk], key_of[pk]) for pk in ids],
        run=run,
        policy=policy,
        action=action,
        now=now,
    )
    PurgeRun.objects.filter(pk=run.pk).update(
        customers=F("customers") + len(ids),
        rows=F("rows") + counts["purchases.rows"] + counts["interactions.rows"] + len(ids),
    )
    run.counts = _merge(run.counts, counts)
    PurgeRun.objects.filter(pk=run.pk).update(counts=run.counts)
    record_event(
        action=AuditAction.KEY_DESTROYED,
        actor=actor,
        obj=run,
        details={"keys": destroyed, "purpose": "customer", "reason": "retention_purge"},
    )
    record_event(
        action=AuditAction.PURGE,
        actor=actor,
        obj=run,
        details={
            "policy": policy.pk if policy else None,
            "retention_action": action,
            "customers": len(ids),
            "counts": counts,
            "first_tombstone": first,
        },
    )
    return len(ids)


class _Bulk:
    """The statements of one purge chunk, each over the chunk's customer ids.

    On PostgreSQL each statement takes the ids as ONE array parameter (``= ANY(%s::uuid[])``)
    instead of a thousand placeholders: the ORM would adapt every UUID in Python for every
    statement, which was most of the purge's time. Elsewhere (SQLite) the ORM does it.
    """

    def __init__(self, ids: list[uuid.UUID]) -> None:
        self.ids = ids
        self.postgres = connection.vendor == "postgresql"
        self.array = [str(pk) for pk in ids]

    def where(self, table: str, column: str) -> Any:
        """A filter expression "column is one of the ids" for ``Model.objects.filter``."""
        if not self.postgres:
            return Q(**{f"{column}__in": self.ids})
        return RawSQL(  # noqa: S611 - names from model metadata, ids as a bound parameter
            f'"{table}"."{column}" = ANY(%s::uuid[])', [self.array], output_field=BooleanField()
        )

    def _execute(self, sql: str, params: list[Any]) -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount

    def delete(self, model: type[models.Model], column: str) -> int:
        if not self.postgres:
            return _raw_delete(model._default_manager.filter(**{f"{column}__in": self.ids}))
        table = connection.ops.quote_name(model._meta.db_table)
        return self._execute(
            # Table and column names come from model metadata, never from input.
            f"DELETE FROM {table} WHERE {connection.ops.quote_name(column)} = ANY(%s::uuid[])",  # noqa: S608
            [self.array],
        )

    def exists(self, model: type[models.Model], column: str) -> bool:
        """Whether any row of ``model`` has one of the ids in ``column`` (one cheap probe)."""
        if not self.postgres:
            return model._default_manager.filter(**{f"{column}__in": self.ids}).exists()
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                # Table and column names come from model metadata, never from input.
                f"SELECT 1 FROM {table} WHERE {connection.ops.quote_name(column)} "  # noqa: S608
                "= ANY(%s::uuid[]) LIMIT 1",
                [self.array],
            )
            return cursor.fetchone() is not None

    def destroy_keys(self, key_ids: list[uuid.UUID], now: datetime) -> int:
        if not self.postgres:
            return DataKey.objects.filter(pk__in=key_ids, destroyed_at__isnull=True).update(
                wrapped_key=None, destroyed_at=now
            )
        return self._execute(
            "UPDATE transferdesk_datakey SET wrapped_key = NULL, destroyed_at = %s "
            "WHERE id = ANY(%s::uuid[]) AND destroyed_at IS NULL",
            [now, [str(pk) for pk in key_ids]],
        )

    def wipe_snapshots(self, model: type[models.Model]) -> int:
        if not self.postgres:
            return (
                model._default_manager.filter(customer_id__in=self.ids)
                .exclude(snapshot=b"")
                .update(snapshot=b"")
            )
        table = connection.ops.quote_name(model._meta.db_table)
        return self._execute(
            f"UPDATE {table} SET snapshot = '' WHERE customer_id = ANY(%s::uuid[]) "  # noqa: S608
            "AND snapshot <> ''",
            [self.array],
        )

    def tombstones(
        self,
        rows: list[tuple[str, int, uuid.UUID]],
        *,
        run: PurgeRun,
        policy: RetentionPolicy | None,
        action: str,
        now: datetime,
    ) -> int | None:
        """Insert the chunk's tombstones; returns the first tombstone's id."""
        if not self.postgres:
            made = DestructionTombstone.objects.bulk_create(
                DestructionTombstone(
                    reference_hash=ref, organization_id=org, policy=policy, run=run,
                    data_key_id=key, action=action, destroyed_at=now,
                )
                for ref, org, key in rows
            )  # fmt: skip
            return made[0].pk if made else None
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO audits_destructiontombstone "
                "(reference_hash, organization_id, policy_id, run_id, data_key_id, action, "
                "destroyed_at) "
                "SELECT r, o, %s, %s, k, %s, %s "
                "FROM unnest(%s::text[], %s::bigint[], %s::uuid[]) AS t(r, o, k) "
                "RETURNING id",
                [
                    policy.pk if policy else None,
                    run.pk,
                    action,
                    now,
                    [r for r, _o, _k in rows],
                    [o for _r, o, _k in rows],
                    [str(k) for _r, _o, k in rows],
                ],
            )
            returned = cursor.fetchall()
        return min(row[0] for row in returned) if returned else None


def _raw_delete(queryset: QuerySet[Any]) -> int:
    """Delete with one SQL statement, no signals, no cascade collection (callers delete the
    children first)."""
    return queryset._raw_delete(queryset.db)  # type: ignore[attr-defined]


def _purge_records_chunk(
    *, run: PurgeRun, policy: RetentionPolicy, ids: list[Any], actor: Any
) -> int:
    """Delete (or strip the notes of) one chunk of purchase or interaction rows."""
    model: type[models.Model] = (
        PurchaseRecord if policy.category == RetentionCategory.PURCHASES else Interaction
    )
    queryset = model._default_manager.filter(pk__in=ids)
    history = _raw_delete(model.history.filter(id__in=ids))  # type: ignore[attr-defined]
    sensitive = fields_of(model, Tier.SENSITIVE)
    sensitive_values = queryset.aggregate(**{name: Count(name) for name in sensitive})
    if policy.action == RetentionAction.DESTROY:
        done = _raw_delete(queryset)
    else:
        done = queryset.update(**dict.fromkeys(sensitive))
    counts = {
        f"{policy.category}.rows": done,
        f"{policy.category}.sensitive": sum(sensitive_values.values()),
        "history.rows": history,
    }
    PurgeRun.objects.filter(pk=run.pk).update(rows=F("rows") + done)
    run.counts = _merge(run.counts, counts)
    PurgeRun.objects.filter(pk=run.pk).update(counts=run.counts)
    record_event(
        action=AuditAction.PURGE,
        actor=actor,
        obj=run,
        details={
            "policy": policy.pk,
            "retention_action": policy.action,
            "category": policy.category,
            "counts": counts,
        },
    )
    return done


def _open_run(*, policy: RetentionPolicy | None, actor: Any, job_id: Any, request_ref: str) -> Any:
    """Resume the unfinished run of this policy (one whose worker died, or that failed), or
    open a new one: one run, one set of counts and one certificate, however many attempts."""
    if policy is not None:
        existing = (
            PurgeRun.objects.filter(
                policy=policy, status__in=[PurgeStatus.RUNNING, PurgeStatus.FAILED]
            )
            .order_by("-started_at")
            .first()
        )
        if existing is not None:
            changes: dict[str, Any] = {"status": PurgeStatus.RUNNING, "error": ""}
            if job_id and not existing.job_id:
                changes["job_id"] = job_id
            PurgeRun.objects.filter(pk=existing.pk).update(**changes)
            existing.refresh_from_db()
            return existing
    return PurgeRun.objects.create(
        policy=policy, request_ref=request_ref, started_by=actor, job_id=job_id
    )


def purge_policy(
    *,
    policy: RetentionPolicy,
    actor: Any = None,
    dry_run: bool = False,
    job_id: Any = None,
    chunk_size: int = CHUNK_SIZE,
    certificate: bool = True,
) -> PurgeOutcome:
    """Run one policy to the end (or only count, ``dry_run``). Unconfirmed policies never
    run: compliance must have confirmed their first preview. While another process runs the
    same policy this returns at once with ``already_running`` (see ``_policy_run_lock``)."""
    outcome = PurgeOutcome(run=None, policy=policy, dry_run=dry_run)
    if not policy.is_confirmed or not policy.is_active:
        outcome.skipped_unconfirmed = True
        return outcome
    is_customer = policy.category == RetentionCategory.CUSTOMER_RECORD
    if dry_run:
        preview = policy_preview(policy)
        outcome.customers = preview.due if is_customer else 0
        outcome.rows = preview.due if not is_customer else preview.purchases + preview.interactions
        return outcome
    with _policy_run_lock(policy) as held:
        if not held:
            outcome.already_running = True
            if job_id:
                job_fail(
                    job_id=job_id,
                    error=_(
                        "This policy is already being purged by another run; nothing was done "
                        "twice. Its certificate appears on this page when that run ends."
                    ),
                )
            return outcome
        return _purge_policy_held(
            policy=policy,
            actor=actor,
            job_id=job_id,
            chunk_size=chunk_size,
            certificate=certificate,
            outcome=outcome,
        )


@contextmanager
def _policy_run_lock(policy: RetentionPolicy) -> Iterator[bool]:
    """Whether this process may run ``policy`` now: one run per policy at a time.

    Two runs at once used to pick the same chunk; the second destroyed nothing, failed on the
    tombstones' unique reference hash and marked the (shared) run failed. On PostgreSQL this is
    a session advisory lock keyed by the policy, taken without waiting, so a second run leaves
    at once instead of holding a worker for the length of the first. It spans the run's many
    chunk transactions (a row lock could only span one), and the server releases it by itself
    when the holder's connection dies, so a killed worker's run is resumed by the next one as
    before. SQLite has one writer at a time and needs none.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    key = int.from_bytes(hashlib.sha256(str(policy.pk).encode()).digest()[:4], "big") - 2**31
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [POLICY_LOCK_CLASS, key])
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        # A connection that died took the lock with it; its error is the one to report.
        if held and connection.is_usable():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [POLICY_LOCK_CLASS, key])


def _purge_policy_held(
    *,
    policy: RetentionPolicy,
    actor: Any,
    job_id: Any,
    chunk_size: int,
    certificate: bool,
    outcome: PurgeOutcome,
) -> PurgeOutcome:
    """``purge_policy`` once this process holds the policy's run lock."""
    is_customer = policy.category == RetentionCategory.CUSTOMER_RECORD
    selection = due_customers(policy) if is_customer else due_records(policy)
    total = selection.count()
    run = _open_run(policy=policy, actor=actor, job_id=job_id, request_ref="")
    outcome.run = run
    done = 0
    last = None
    with job_running(
        job_id, total=total, error=_("The purge failed ({kind}); run it again to resume.")
    ) as running:
        try:
            while True:
                # Keyset pagination: each chunk starts after the last one's greatest id, so the
                # index scan never walks again over the rows just deleted (dead until vacuum)
                # or kept back by a hold; restarting from the first id made the purge quadratic.
                page = selection if last is None else selection.filter(pk__gt=last)
                ids = list(page.order_by("pk").values_list("pk", flat=True)[:chunk_size])
                if not ids:
                    break
                last = ids[-1]
                with transaction.atomic():
                    if is_customer:
                        n = _shred_customers(
                            run=run, policy=policy, action=policy.action, ids=ids, actor=actor
                        )
                    else:
                        n = _purge_records_chunk(run=run, policy=policy, ids=ids, actor=actor)
                done += n
                running.progress(done)
        except Exception as exc:
            PurgeRun.objects.filter(pk=run.pk).update(
                status=PurgeStatus.FAILED, error=type(exc).__name__
            )
            raise
        _finish_run(run, actor=actor, certificate=certificate)
        result: dict[str, Any] = {"run": str(run.pk), "done": done}
        if run.customers or run.rows:  # the job's link leads to the certificate (or its job)
            result["download_url"] = reverse("lifecycle:run_certificate", args=[run.pk])
        running.result = result
    run.refresh_from_db()
    outcome.customers = run.customers
    outcome.rows = run.rows
    return outcome


def certificate_inline_max() -> int:
    """Runs with more customers than this get their certificate from a job on the ``reports``
    queue: listing 100,000 reference hashes takes minutes, which neither a purge worker nor
    a page should wait for."""
    return int(getattr(settings, "TRANSFERDESK_CERTIFICATE_INLINE_MAX", 2000))


def _finish_run(run: PurgeRun, *, actor: Any, certificate: bool) -> None:
    PurgeRun.objects.filter(pk=run.pk).update(
        status=PurgeStatus.SUCCEEDED, finished_at=timezone.now()
    )
    run.refresh_from_db()
    if not certificate or not (run.customers or run.rows):
        return
    if run.customers > certificate_inline_max():
        certificate_request(run=run, actor=actor)
    else:
        certificate_for_run(run=run, actor=actor)


def certificate_request(*, run: PurgeRun, actor: Any = None) -> Any:
    """Queue the certificate of a large run as a job with progress (idempotent: a run has one
    certificate job; asking again returns it)."""
    from transferdesk.jobs import JobStatus, job_create

    with transaction.atomic():
        locked = PurgeRun.objects.select_for_update().get(pk=run.pk)
        previous = locked.certificate_job
        if previous is not None and previous.status != JobStatus.FAILED:
            return previous
        job = job_create(
            kind="destruction_certificate",
            actor=actor,
            obj=locked,
            total=DestructionTombstone.objects.filter(run=locked).count(),
        )
        PurgeRun.objects.filter(pk=run.pk).update(certificate_job=job)
        run.certificate_job = job
        user_id = actor.pk if actor is not None else None
        transaction.on_commit(
            lambda: jobs.enqueue(
                "audits.tasks_lifecycle.certificate_for_run",
                str(run.pk),
                str(job.pk),
                user_id,
                fail_job=job.pk,
            )
        )
    return job


def purge_expired(
    *, actor: Any = None, dry_run: bool = False, job_id: Any = None
) -> list[PurgeOutcome]:
    """Every active policy, in a stable order (the daily beat task and ``purge_expired``).

    The job row, if any, counts policies: each policy's chunks commit on their own, so a
    failure leaves the finished policies done and the next run resumes the interrupted one.
    """
    policies = list(RetentionPolicy.objects.filter(is_active=True).order_by("created_at", "pk"))
    outcomes = []
    with job_running(
        job_id, total=len(policies), error=_("The purge failed ({kind}); the next run resumes it.")
    ) as running:
        for done, policy in enumerate(policies, start=1):
            outcomes.append(purge_policy(policy=policy, actor=actor, dry_run=dry_run))
            running.progress(done)
        running.result = {
            "policies": len(policies),
            "customers": sum(o.customers for o in outcomes),
            "rows": sum(o.rows for o in outcomes),
        }
    return outcomes


def customer_erase(*, actor: Any, customer: Customer, request_ref: str) -> PurgeRun:
    """Erase one customer on request (data-subject erasure): the same shredding, its own run
    and certificate. Refused while a legal hold applies."""
    if Customer.objects.filter(pk=customer.pk).filter(_held_q()).exists():
        raise ValidationError(_("This customer is under a legal hold and cannot be erased."))
    try:
        # The run is created, the customer shredded and the run ended in one transaction: an
        # erasure that erased nobody (done meanwhile by another) leaves no run at all, and
        # none is left "running" whatever happens.
        with transaction.atomic():
            run = PurgeRun.objects.create(request_ref=request_ref, started_by=actor)
            # Every recipient of a handed-over copy gets a deletion task (inside the shredding).
            n = _shred_customers(
                run=run, policy=None, action=RetentionAction.DESTROY, ids=[customer.pk], actor=actor
            )
            if n == 0:
                raise ValidationError(_("This customer was already erased."))
            _finish_run(run, actor=actor, certificate=True)
    except ValidationError:
        raise
    except Exception as exc:
        # Nothing was erased (rolled back); the failed attempt stays on record with its reason.
        PurgeRun.objects.create(
            request_ref=request_ref,
            started_by=actor,
            status=PurgeStatus.FAILED,
            error=type(exc).__name__,
            finished_at=timezone.now(),
        )
        raise
    return run


def erase_on_request(
    sender: Any, *, actor: Any, customer: Customer, request_ref: str, **kwargs: Any
) -> PurgeRun:
    """The answer to ``customers.erasure.erasure_requested`` (connected in ``ready()``)."""
    return customer_erase(actor=actor, customer=customer, request_ref=request_ref)


# --- deal destruction (DESIGN.md guarantee 9) -------------------------------------------------


def deal_destroy_refusal(deal: Any) -> str | None:
    """Why ``deal`` cannot be destroyed now, or None if it can: the one rule behind the service
    and the pages that offer the action."""
    if deal.status == DealStatus.COMPLETED:
        return _("A completed deal is not destroyed: the buyer holds its data.")
    if DealDestruction.objects.filter(deal_id=deal.pk).exists():
        return _("This deal was already destroyed.")
    if LegalHold.objects.filter(deal_id=deal.pk, released_at__isnull=True).exists():
        return _("This deal is under a legal hold and cannot be destroyed.")
    return None


def can_destroy_deal(user: Any, deal: Any) -> bool:
    """Whether the page should offer ``user`` to destroy ``deal`` (compliance, rule allows)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return user.has_role(Role.COMPLIANCE) and deal_destroy_refusal(deal) is None


def destructions_for_buyer(user: Any) -> QuerySet[DealDestruction]:
    """Deal destructions ``user`` is asked to attest: those that revoked their own access to a
    deal of their organisation (the deal itself is out of their portal scope by then)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return DealDestruction.objects.none()
    return DealDestruction.objects.filter(
        buyers=user, deal__buyer_id=user.organization_id
    ).select_related("deal", "deal__seller")


@transaction.atomic(durable=True)
def deal_destroy(*, actor: Any, deal: Any, reason: str) -> DealDestruction:
    """End a deal that does not go ahead: revoke every permission of the buyer's people on it,
    destroy the deal key (every snapshot handed over in TransferDesk becomes unreadable), and
    wait for the buyer's attestation about copies outside TransferDesk.

    A completed deal is not destroyed this way (the buyer now holds the data lawfully), and a
    deal under legal hold is not destroyed at all.
    """
    from transferdesk.crypto.services import data_key_destroy

    _require_compliance(actor)
    reason = DealDestructionReason(reason)
    deal = TransferDeal.objects.select_for_update().get(pk=deal.pk)
    refusal = deal_destroy_refusal(deal)
    if refusal is not None:
        raise ValidationError(refusal)
    if deal.status != DealStatus.CANCELLED:
        TransferDeal.objects.filter(pk=deal.pk).update(status=DealStatus.CANCELLED)
        deal_cancelled.send(sender=TransferDeal, deal_id=deal.pk)
    # Every grant of the buyer organisation's people on this deal goes, assignments first.
    buyer_perms = TransferDealUserObjectPermission.objects.filter(
        content_object=deal, user__organization_id=deal.buyer_id
    )
    revoked = list(buyer_perms.values_list("user_id", "user__username", "permission__codename"))
    buyer_assignments = DealAssignment.objects.filter(deal=deal, role=AssignmentRole.BUYER)
    buyer_ids = {row[0] for row in revoked}
    buyer_ids |= set(buyer_assignments.values_list("user_id", flat=True))
    buyer_perms.delete()
    buyer_assignments.delete()
    by_user: dict[Any, tuple[str, list[str]]] = {}
    for user_id, username, codename in revoked:
        by_user.setdefault(user_id, (username, []))[1].append(codename)
    for user_id, (username, codenames) in sorted(by_user.items()):
        record_event(
            action=AuditAction.REVOKE,
            actor=actor,
            obj=deal,
            deal=deal,
            details={
                "from_user": user_id,
                "from_username": username,
                "permissions": sorted(codenames),
                "reason": str(reason),
            },
        )
    items = HandoverItem.objects.filter(stage__deal=deal).count()
    data_key_destroy(data_key=deal.data_key, actor=actor, reason=f"deal_{reason}")
    destruction = DealDestruction.objects.create(
        deal=deal,
        reason=reason,
        requested_by=actor,
        destroyed_at=DataKey.objects.get(pk=deal.data_key_id).destroyed_at or timezone.now(),
        revoked_permissions=len(revoked),
        items_unreadable=items,
    )
    destruction.buyers.set(buyer_ids)
    record_event(
        action=AuditAction.PURGE,
        actor=actor,
        obj=destruction,
        deal=deal,
        details={
            "reason": str(reason),
            "items_unreadable": items,
            "permissions_revoked": len(revoked),
            "data_key": deal.data_key_id,
        },
    )
    return destruction


ATTESTATIONS = ("returned", "destroyed")


def deal_destruction_attest(
    *, actor: Any, destruction: DealDestruction, attestation: str
) -> DealDestruction:
    """The buyer's statement that every copy outside TransferDesk was returned or destroyed;
    it closes the destruction and issues the certificate."""
    if attestation not in ATTESTATIONS:
        raise ValidationError(_("Say whether the data was returned or destroyed."))
    if actor is None or not actor.has_role(Role.BUYER):
        raise PermissionDenied
    if not destructions_for_buyer(actor).filter(pk=destruction.pk).exists():
        raise PermissionDenied
    with transaction.atomic(durable=True):
        updated = DealDestruction.objects.filter(
            pk=destruction.pk, status=DealDestructionStatus.AWAITING_ATTESTATION
        ).update(
            status=DealDestructionStatus.ATTESTED,
            attested_by=actor,
            attested_at=timezone.now(),
            attestation=attestation,
        )
        if not updated:
            raise ValidationError(_("This destruction was already attested."))
        record_event(
            action=AuditAction.ACKNOWLEDGED,
            actor=actor,
            obj=destruction,
            deal=destruction.deal_id,
            details={"attestation": attestation},
        )
    destruction.refresh_from_db()
    certificate_for_deal(destruction=destruction, actor=actor)
    return destruction


# --- the certificate ----------------------------------------------------------------------------


def _actor_name(actor: Any) -> str:
    return actor.get_username() if actor is not None else _("system (scheduled purge)")


def _store_certificate(
    *,
    actor: Any,
    kind: str,
    pdf: bytes,
    head: str,
    destroyed_at: datetime,
    key_count: int,
    run: PurgeRun | None = None,
    destruction: DealDestruction | None = None,
) -> DestructionCertificate:
    with transaction.atomic():
        certificate = DestructionCertificate.objects.create(
            kind=kind,
            run=run,
            deal_destruction=destruction,
            issued_by=actor,
            chain_head=head,
            no_backup_after=no_backup_after(destroyed_at),
            key_count=key_count,
            pdf=pdf,
            sha256=hashlib.sha256(pdf).hexdigest(),
        )
        record_event(
            action=AuditAction.REPORT_GENERATED,
            actor=actor,
            obj=certificate,
            deal=destruction.deal_id if destruction else None,
            details={"report": "destruction_certificate", "sha256": certificate.sha256},
        )
    return certificate


def _chain_head_text() -> str:
    head = chain_head()
    return f"{head.seq}:{head.mac[:32]}"


def _count_label(key: str) -> tuple[str, str]:
    """The certificate's words for a count key such as ``customer_record.sensitive``."""
    categories = {
        "customer_record": _("Customer record"),
        "purchases": _("Purchase records"),
        "interactions": _("Interaction records"),
        "history": _("History"),
        "snapshots": _("Handed-over snapshots"),
    }
    kinds = {
        "customers": _("Customers"),
        "general": _("General-tier values"),
        "sensitive": _("Sensitive-tier values (encrypted)"),
        "core": _("Core-tier values (encrypted)"),
        "rows": _("Rows"),
        "wiped": _("Wiped"),
        "followups": _("Deletion tasks for the recipients"),
    }
    category, _sep, kind = key.partition(".")
    return categories.get(category, category), kinds.get(kind, kind)


def _counted(rows: Iterable[Any], *, job_id: Any, every: int = CHUNK_SIZE) -> Iterator[Any]:
    """Pass ``rows`` through, reporting how many went by into the job row every ``every``."""
    for done, row in enumerate(rows, start=1):
        yield row
        if job_id and done % every == 0:
            job_progress(job_id=job_id, done=done)


def certificate_for_run(
    *, run: PurgeRun, actor: Any = None, job_id: Any = None
) -> DestructionCertificate:
    """The certificate of a purge run or an erasure (built once per run). With ``job_id``
    (a large run, see ``certificate_request``) it reports its progress there."""
    from transferdesk import pdf as evidence
    from transferdesk.pdf import EvidenceDocument, ReportMeta, para, table_chunks, title_page

    existing = DestructionCertificate.objects.filter(run=run).first()
    if existing is not None:
        return existing
    tombstones = DestructionTombstone.objects.filter(run=run)
    destroyed_at = (
        tombstones.aggregate(last=Max("destroyed_at"))["last"] or run.finished_at or run.started_at
    )
    key_count = tombstones.count()
    head = _chain_head_text()
    now = timezone.now()
    title = str(gettext_lazy("Destruction certificate"))
    meta = ReportMeta(
        title=title, generated_by=_actor_name(actor), generated_at=now, chain_head=head
    )
    policy = run.policy
    organisations = ", ".join(
        Organization.objects.filter(
            pk__in=tombstones.values("organization_id").distinct()
        ).values_list("legal_name", flat=True)
    )
    if policy is not None:
        basis = _("Retention policy: {category}, {period} days from {event}, {action}").format(
            category=policy.get_category_display(),
            period=policy.period_days,
            event=policy.get_event_display(),
            action=policy.get_action_display(),
        )
    else:
        basis = _("Erasure request {reference}").format(reference=run.request_ref or "-")
    facts: list[tuple[str, object]] = [
        (_("Certificate for"), _("Purge run {id}").format(id=run.pk)),
        (_("Basis"), basis),
        (_("Organisation"), organisations),
        (_("Carried out by"), _actor_name(run.started_by)),
        (_("Destroyed at"), f"{destroyed_at:%Y-%m-%d %H:%M:%S %Z}"),
        (_("Customers"), run.customers),
        (_("Data keys destroyed"), key_count),
        (_("Audit chain head"), head),
        (
            _("No retained backup holds these keys after"),
            f"{no_backup_after(destroyed_at):%Y-%m-%d %H:%M %Z}",
        ),
    ]

    def flowables() -> Iterator[Any]:
        yield from title_page(
            title,
            _(
                "The data keys listed below were destroyed (crypto-shredding): every value "
                "encrypted under them, in live rows, history rows, handed-over snapshots and "
                "backups, can no longer be read."
            ),
            facts,
        )
        yield para(_("What was destroyed"), "h2", bold=True)
        yield from table_chunks(
            [_("Category"), _("What"), _("Count")],
            [(*_count_label(key), value) for key, value in sorted(run.counts.items())],
            col_widths=[60 * evidence.mm, 80 * evidence.mm, 25 * evidence.mm],
        )
        yield para(_("Customer reference hashes and keys destroyed"), "h2", bold=True)
        # Two columns only: a SHA-256 in hex and a UUID fill the page width at this size
        # (the action is the run's, stated above).
        yield from table_chunks(
            [_("Reference hash"), _("Data key destroyed")],
            _counted(
                tombstones.order_by("id")
                .values_list("reference_hash", "data_key_id")
                .iterator(chunk_size=2000),
                job_id=job_id,
            ),
            col_widths=[112 * evidence.mm, 62 * evidence.mm],
        )

    buffer = io.BytesIO()
    EvidenceDocument(buffer, meta).build_stream(flowables())
    return _store_certificate(
        actor=actor,
        kind=CertificateKind.PURGE,
        pdf=buffer.getvalue(),
        head=head,
        destroyed_at=destroyed_at,
        key_count=key_count,
        run=run,
    )


def certificate_for_deal(
    *, destruction: DealDestruction, actor: Any = None
) -> DestructionCertificate:
    """The certificate of a deal destruction, issued once the buyer has attested."""
    from transferdesk import pdf as evidence
    from transferdesk.pdf import EvidenceDocument, ReportMeta, para, table_chunks, title_page

    existing = DestructionCertificate.objects.filter(deal_destruction=destruction).first()
    if existing is not None:
        return existing
    deal = destruction.deal
    head = _chain_head_text()
    title = str(gettext_lazy("Destruction certificate"))
    meta = ReportMeta(
        title=title, generated_by=_actor_name(actor), generated_at=timezone.now(), chain_head=head
    )
    facts: list[tuple[str, object]] = [
        (_("Deal"), f"{deal.reference} {deal.title}"),
        (_("Reason"), destruction.get_reason_display()),
        (_("Requested by"), _actor_name(destruction.requested_by)),
        (_("Deal key destroyed"), f"{deal.data_key_id}"),
        (_("Destroyed at"), f"{destruction.destroyed_at:%Y-%m-%d %H:%M:%S %Z}"),
        (_("Permissions revoked"), destruction.revoked_permissions),
        (_("Snapshots made unreadable"), destruction.items_unreadable),
        (
            _("Buyer's attestation"),
            _("{answer} by {user} at {time}").format(
                answer=destruction.attestation,
                user=_actor_name(destruction.attested_by),
                time=f"{destruction.attested_at:%Y-%m-%d %H:%M %Z}",
            ),
        ),
        (_("Audit chain head"), head),
        (
            _("No retained backup holds these keys after"),
            f"{no_backup_after(destruction.destroyed_at):%Y-%m-%d %H:%M %Z}",
        ),
    ]
    manifests = StageManifest.objects.filter(stage__deal=deal).select_related("stage")

    def flowables() -> Iterable[Any]:
        yield from title_page(
            title,
            _(
                "The deal key was destroyed: every snapshot handed over in this deal can no "
                "longer be read, and the buyer no longer has access to the deal."
            ),
            facts,
        )
        yield para(_("What was destroyed"), "h2", bold=True)
        yield from table_chunks(
            [_("Stage"), _("Items"), _("Items per tier"), _("Manifest root")],
            (
                (
                    m.stage.name,
                    m.item_count,
                    ", ".join(f"{k}: {v}" for k, v in sorted(m.counts_per_tier.items())),
                    m.merkle_root,
                )
                for m in manifests
            ),
            col_widths=[45 * evidence.mm, 15 * evidence.mm, 40 * evidence.mm, 78 * evidence.mm],
        )

    buffer = io.BytesIO()
    EvidenceDocument(buffer, meta).build_stream(flowables())
    return _store_certificate(
        actor=actor,
        kind=CertificateKind.DEAL,
        pdf=buffer.getvalue(),
        head=head,
        destroyed_at=destruction.destroyed_at,
        key_count=1,
        destruction=destruction,
    )
