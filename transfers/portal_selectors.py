"""Scoped reads of the buyer portal: what a buyer may see of a deal, and decrypted snapshots.

Everything a buyer reaches starts from ``restrict(user, "portal")`` (the deal permission that
a buyer assignment carries). Items are decrypted with the deal key only for the rows a page
shows; filtering on general fields decrypts the stage's snapshots in memory to match them
(they are encrypted at rest, so the database cannot filter them) and keeps only the ids, so
the cost is one query and one AES-GCM pass per item, whatever the page size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from accounts.choices import Role
from customers.choices import Tier
from customers.models import Customer
from customers.registry import fields_of, tier_of

from .choices import DealStatus, StageKind
from .engine import decrypt_item, snapshot_fields
from .models import HandoverItem, HandoverStage, NdaAcceptance, TransferDeal
from .portal_models import (
    Answer,
    FollowUpKind,
    FollowUpReason,
    FollowUpStatus,
    FollowUpTask,
    Question,
)
from .portal_services import HANDED_OVER

#: General fields a buyer can filter a stage's items on (categorical ones; free text,
#: identifiers and dates make poor filters).
FILTERABLE = ("segment", "city", "region", "country", "preferred_language", "legal_basis")
#: General fields shown as columns of the item list (the item page shows every field).
LIST_COLUMNS = ("segment", "city", "region", "country", "customer_since", "preferred_language")


def portal_deals(user: Any) -> QuerySet[TransferDeal]:
    """The buyer's deals, each with its handed-over stages (and their manifests)."""
    stages = (
        HandoverStage.objects.filter(status__in=HANDED_OVER)
        .select_related("manifest", "acknowledgement")
        .order_by("order")
    )
    deals: QuerySet[TransferDeal] = TransferDeal.objects.restrict(user, "portal")
    return (
        deals.select_related("seller", "buyer", "data_key")
        .prefetch_related(Prefetch("stages", queryset=stages, to_attr="handed_over"))
        .annotate(
            open_tasks=Count(
                "followups", filter=Q(followups__status=FollowUpStatus.OPEN), distinct=True
            )
        )
        .order_by("-created_at")
    )


def access_ended(deal: TransferDeal) -> bool:
    """Cancelled deals and destroyed keys close the portal (DESIGN.md guarantee 9)."""
    return deal.status == DealStatus.CANCELLED or deal.data_key.destroyed_at is not None


def had_access(user: Any, deal_id: Any) -> bool:
    """Whether ``user`` once opened this deal (accepted one of its NDAs): a revoked buyer is
    told their access ended, a stranger gets the same 404 as a missing deal."""
    if deal_id is None:
        return False
    return NdaAcceptance.objects.filter(user=user, nda__deal_id=deal_id).exists()


def portal_stages(user: Any) -> QuerySet[HandoverStage]:
    return HandoverStage.objects.restrict(user, "portal").select_related(
        "deal", "deal__data_key", "deal__buyer", "deal__seller", "manifest"
    )


def general_fields(stage: HandoverStage) -> list[str]:
    general = set(fields_of(Customer, Tier.GENERAL))
    return [f for f in snapshot_fields(stage) if f in general]


def list_columns(stage: HandoverStage) -> list[str]:
    in_scope = set(general_fields(stage))
    return [f for f in LIST_COLUMNS if f in in_scope]


def filter_fields(stage: HandoverStage) -> list[str]:
    in_scope = set(general_fields(stage))
    return [f for f in FILTERABLE if f in in_scope]


def field_label(name: str) -> str:
    from django.utils.text import capfirst

    field = Customer._meta.get_field(name)
    return str(capfirst(getattr(field, "verbose_name", name)))


def display_value(name: str, value: Any) -> Any:
    """A choice field's label instead of its stored code ("Consent", not "consent")."""
    field = Customer._meta.get_field(name)
    choices = getattr(field, "flatchoices", None)
    if choices and value not in (None, ""):
        return dict(choices).get(value, value)
    return value


def field_tier(name: str) -> str:
    return str(tier_of(Customer, name))


@dataclass(frozen=True)
class ShownItem:
    """One decrypted item as a page shows it: its label and the in-scope fields only."""

    pk: int
    label: str
    fields: dict[str, Any]


def identity_label(stage: HandoverStage, document: dict[str, Any]) -> str:
    """The seller's reference on identified stages, the keyed pseudonym otherwise."""
    if stage.kind == StageKind.PSEUDONYMISED:
        return str(document.get("pseudonym", ""))
    return str(document.get("fields", {}).get("reference") or document.get("customer", ""))


def shown(stage: HandoverStage, item: HandoverItem, key: bytes) -> ShownItem:
    """Decrypt one item and keep exactly the fields the stage's scope allows (a snapshot that
    somehow carried more would still show no more)."""
    document = decrypt_item(item, key)
    allowed = snapshot_fields(stage)
    values = document.get("fields", {})
    return ShownItem(
        pk=item.pk,
        label=identity_label(stage, document),
        fields={name: values.get(name) for name in allowed if name in values},
    )


def withdrawing_tasks() -> QuerySet[FollowUpTask]:
    """Follow-up tasks that take a record out of the buyer's use: a deletion (erasure,
    objection) or a restriction of processing.

    They withdraw the record from the moment the task exists, open or done: the buyer's
    attestation says they removed it from their own systems, but the data room must stop
    offering it at once (GDPR art. 18(2) and 19; PIPL art. 47), not a month later.
    """
    return FollowUpTask.objects.filter(
        Q(kind=FollowUpKind.DELETE) | Q(reason=FollowUpReason.RESTRICTION)
    )


def stage_items(stage: HandoverStage) -> QuerySet[HandoverItem]:
    """The records of a stage the buyer may still use: every page, filter, export and
    question of the portal reads items through here."""
    # A snapshot wiped by an erasure or purge has nothing left to show (or decrypt), and a
    # record under a deletion or restriction task is withdrawn (``withdrawing_tasks``).
    return (
        HandoverItem.objects.filter(stage=stage)
        .exclude(snapshot=b"")
        .exclude(Exists(withdrawing_tasks().filter(item_id=OuterRef("pk"))))
        .only("id", "stage_id", "customer_id", "snapshot")
    )


@dataclass(frozen=True)
class Withdrawal:
    """A handed-over record the buyer may no longer use, as the manifest page, the receipt
    and the bundle name it: the item, its digest (the leaf the signed manifest's root covers,
    so it names the record without its content or the seller's customer id), why and since
    when."""

    item: int
    digest: str
    kind: str
    reason: str
    since: Any

    @property
    def reason_label(self) -> str:
        from .choices import choice_label

        return choice_label(FollowUpReason, self.reason)


def stage_withdrawals(stage: HandoverStage) -> list[Withdrawal]:
    """The stage's items withdrawn since delivery, oldest first (one row per item: the
    earliest withdrawing task)."""
    rows: dict[int, Withdrawal] = {}
    tasks = (
        withdrawing_tasks()
        .filter(item__stage=stage)
        .select_related("item")
        .order_by("created_at", "pk")
    )
    for task in tasks:
        if task.item_id in rows:
            continue
        rows[task.item_id] = Withdrawal(
            item=task.item_id,
            digest=task.item.digest,
            kind=task.kind,
            reason=task.reason,
            since=task.created_at,
        )
    return list(rows.values())


def _norm(value: Any) -> str:
    return str(value if value is not None else "").strip().casefold()


def matching_ids(
    stage: HandoverStage, key: bytes, filters: dict[str, str], query: str = ""
) -> list[int]:
    """Ids of the stage's items whose general fields equal ``filters`` (case-insensitive)
    and whose label starts with ``query``; one streamed query, nothing kept but ids."""
    wanted = {name: _norm(value) for name, value in filters.items() if _norm(value)}
    query = _norm(query)
    ids = []
    for item in stage_items(stage).order_by("pk").iterator(chunk_size=2000):
        document = decrypt_item(item, key)
        values = document.get("fields", {})
        if any(_norm(values.get(name)) != value for name, value in wanted.items()):
            continue
        if query and not _norm(identity_label(stage, document)).startswith(query):
            continue
        ids.append(item.pk)
    return ids


def decrypt_page(stage: HandoverStage, ids: Iterable[int], key: bytes) -> list[ShownItem]:
    ids = list(ids)
    by_pk = {item.pk: item for item in stage_items(stage).filter(pk__in=ids)}
    return [shown(stage, by_pk[pk], key) for pk in ids if pk in by_pk]


def all_shown(stage: HandoverStage, key: bytes) -> Iterator[ShownItem]:
    """Every item of the stage, decrypted one chunk at a time (exports)."""
    for item in stage_items(stage).order_by("pk").iterator(chunk_size=2000):
        yield shown(stage, item, key)


def deal_questions(user: Any, deal: TransferDeal) -> QuerySet[Question]:
    questions: QuerySet[Question] = Question.objects.restrict(user, "portal")
    return (
        questions.filter(deal=deal).select_related("stage", "asked_by").prefetch_related("answers")
    )


def unseen_answers(user: Any) -> QuerySet[Answer]:
    """Answers to the user's own questions they have not opened yet (on-screen notice)."""
    return Answer.objects.restrict(user, "portal").filter(
        question__asked_by=user, seen_at__isnull=True
    )


def question_queue(user: Any) -> QuerySet[Question]:
    """Questions of the deals a broker works on (compliance reads every deal's)."""
    action = "change" if user.has_role(Role.BROKER) else "view"
    questions: QuerySet[Question] = Question.objects.restrict(user, action)
    return (
        questions.select_related("deal", "stage", "asked_by")
        .annotate(answer_count=Count("answers"))
        .order_by("status", "asked_at")
    )


def deal_tasks(user: Any, deal: TransferDeal) -> QuerySet[FollowUpTask]:
    return (
        FollowUpTask.objects.restrict(user, "portal")
        .filter(deal=deal)
        .select_related("item__stage", "attested_by")
    )


def overdue_tasks(user: Any) -> QuerySet[FollowUpTask]:
    """Open tasks past their deadline, for compliance (every deal) and brokers (theirs)."""
    from django.utils import timezone

    return (
        FollowUpTask.objects.restrict(user, "view")
        .filter(status=FollowUpStatus.OPEN, due_at__lt=timezone.now())
        .select_related("deal", "deal__buyer", "item__stage")
        .order_by("due_at")
    )
