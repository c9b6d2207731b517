"""The keyed hash chain: canonical encoding of an event, its MAC, and verification.

``mac(n) = HMAC-SHA256(audit key, prev_mac(n) || canonical(n))`` where ``prev_mac(n)`` is
``mac(n-1)`` (``GENESIS_MAC`` for the first event) and ``canonical(n)`` is a deterministic JSON
encoding of every stored column except ``mac``. The key comes from the environment
(``TRANSFERDESK_AUDIT_KEY``), never from the database, so write access to the database is not
enough to forge a chain that verifies.

The writer (``services.record_event``) and the verifier (``verify_chain``, used by the
``verify_audit_chain`` command and the daily task) share this module, so they cannot drift.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router
from django.db.models import Max, Min
from django.utils.translation import gettext as _

from .models import GENESIS_MAC, AuditEvent

#: Every stored column, in the order the verifier reads them. ``mac`` is last.
CHAIN_FIELDS: tuple[str, ...] = (
    "seq",
    "time",
    "actor_id",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "deal_ref",
    "request_id",
    "ip",
    "user_agent",
    "details",
    "prev_mac",
    "mac",
)
_ENCODED_FIELDS = CHAIN_FIELDS[:-1]
_UTC = dt.UTC
# One encoder, built once: ``json.dumps`` with options builds a new one per call, which costs a
# fifth of the verifier's time.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def audit_key() -> bytes:
    """The chain key, decoded from ``settings.TRANSFERDESK_AUDIT_KEY`` (urlsafe base64)."""
    raw = settings.TRANSFERDESK_AUDIT_KEY
    try:
        key = base64.urlsafe_b64decode(raw.encode("ascii") + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ImproperlyConfigured(
            "TRANSFERDESK_AUDIT_KEY is not urlsafe base64; generate 32 random bytes."
        ) from None
    if len(key) < 32:
        raise ImproperlyConfigured("TRANSFERDESK_AUDIT_KEY must hold at least 32 bytes.")
    return key


def encode_time(value: dt.datetime) -> str:
    """UTC, microseconds always written: the same text whatever the database returns."""
    if value.tzinfo is None:
        raise ValueError("Audit event times must be timezone-aware.")
    return value.astimezone(_UTC).isoformat(timespec="microseconds")


def _encode(doc: dict[str, Any]) -> bytes:
    doc["time"] = encode_time(doc["time"])
    if doc["ip"] == "":
        doc["ip"] = None
    return _ENCODER.encode(doc).encode()


def canonical(row: Mapping[str, Any]) -> bytes:
    """The deterministic encoding of one event (every column but ``mac``).

    Sorted keys, no whitespace, UTF-8, time in UTC with microseconds. The values are the ones
    the database gives back, which the writer guarantees by storing only JSON types (see
    ``services.clean_details``) and normalised text.
    """
    return _encode({name: row[name] for name in _ENCODED_FIELDS})


def compute_mac(key: bytes, row: Mapping[str, Any]) -> str:
    """HMAC-SHA256 over the previous MAC followed by the canonical encoding, as hex."""
    return hmac.digest(key, row["prev_mac"].encode() + canonical(row), "sha256").hex()


@dataclass(frozen=True)
class Checkpoint:
    """A chain head someone recorded: the chain must still hold event ``seq`` with ``mac``.

    Receipts, reports, backup manifests, destruction certificates and earlier verifications
    each record one (``audits.checkpoints`` collects them); an operator can give more with
    ``verify_audit_chain --anchor``. ``mac`` may be a prefix (receipts print 32 hex digits).
    ``about`` holds the language-neutral facts that name it (deal, stage, file, date), so
    that ``describe`` can say which checkpoint it is in whatever language reads it later.
    """

    seq: int
    mac: str
    source: str
    about: Mapping[str, str] = field(default_factory=dict)

    def as_params(self) -> dict[str, Any]:
        return {"source": self.source, "seq": self.seq, "mac": self.mac, **self.about}

    def describe(self) -> str:
        return checkpoint_label(self.as_params())


#: Words for the ``kind`` a checkpoint's source names, given by the app that owns those kinds
#: (the audits app registers its report kinds in ``ready()``); an unknown kind reads as itself.
_KIND_LABELS: dict[str, Callable[[str], str]] = {}


def register_kind_label(source: str, label: Callable[[str], str]) -> None:
    """Let ``checkpoint_label`` name the ``kind`` of checkpoints from ``source`` in words."""
    _KIND_LABELS[source] = label


def checkpoint_label(params: Mapping[str, Any]) -> str:
    """Which checkpoint, in words (``params`` as ``Checkpoint.as_params`` stores them)."""
    source = params.get("source", "")
    if source == "receipt":
        return _("the receipt of stage {stage} of deal {deal}, issued {at}").format(
            stage=params.get("stage", "?"), deal=params.get("deal", "?"), at=params.get("at", "?")
        )
    if source == "report":
        kind = params.get("kind", "")
        label = _KIND_LABELS.get(source, str)(kind)
        return _("the report “{kind}” issued {at}").format(kind=label, at=params.get("at", "?"))
    if source == "backup":
        return _("the backup {file}, taken {at}").format(
            file=params.get("file", "?"), at=params.get("at", "?")
        )
    if source == "certificate":
        return _("the destruction certificate issued {at}").format(at=params.get("at", "?"))
    if source == "verification":
        return _("the verification of {at}").format(at=params.get("at", "?"))
    if source == "anchor":
        return _("the head given with --anchor")
    return _("a receipt or report")


def problem_message(problem: str, params: Mapping[str, Any]) -> str:
    """A verification problem in words, in the active language (stored runs keep only the
    problem code and ``params``, so a page shows them in its reader's language)."""
    seq = params.get("seq")
    checkpoint = params.get("checkpoint") or {}
    if problem == "removed":
        return _("event {seq} is missing: removed (the next event present is {next})").format(
            seq=seq, next=params.get("next")
        )
    if problem == "reordered" and params.get("mac_ok") is False:
        return _(
            "event {seq} does not follow event {prev} and its MAC does not match: "
            "reordered, inserted or forged"
        ).format(seq=seq, prev=params.get("prev"))
    if problem == "reordered":
        return _(
            "event {seq} appears out of order after event {prev}: reordered or inserted"
        ).format(seq=seq, prev=params.get("prev"))
    if problem == "altered":
        return _("event {seq} was altered or forged: its MAC does not match its content").format(
            seq=seq
        )
    if problem == "relinked":
        return _(
            "event {seq} does not link to event {prev}: an event before it was removed, "
            "replaced or inserted"
        ).format(seq=seq, prev=params.get("prev"))
    if problem == "anchor_mismatch":
        return _("event {seq} differs from the MAC that {checkpoint} recorded for it").format(
            seq=seq, checkpoint=checkpoint_label(checkpoint)
        )
    if problem == "truncated":
        if not params.get("head"):
            return _(
                "the trail is empty but {checkpoint} recorded event {recorded}: "
                "events 1 to {recorded} are missing, the whole trail was removed"
            ).format(checkpoint=checkpoint_label(checkpoint), recorded=checkpoint.get("seq"))
        return _(
            "the chain ends at event {head} but {checkpoint} recorded event {recorded}: "
            "events {first} to {recorded} are missing, the tail was removed"
        ).format(
            head=params.get("head"),
            checkpoint=checkpoint_label(checkpoint),
            recorded=checkpoint.get("seq"),
            first=params.get("head", 0) + 1,
        )
    return problem


@dataclass(frozen=True)
class ChainVerification:
    """The outcome of walking the chain. ``ok`` is False from the first broken event on.

    ``problem`` is a stable code (``altered``, ``removed``, ``reordered``, ``relinked``,
    ``anchor_mismatch``, ``truncated``) for alerts and scripts; ``message`` says it in words;
    ``params`` holds what ``problem_message`` needs to say it again in another language.
    """

    ok: bool
    count: int
    head_seq: int
    head_mac: str
    first_bad_seq: int | None = None
    problem: str = ""
    message: str = ""
    anchors_checked: tuple[int, ...] = field(default=())
    params: Mapping[str, Any] = field(default_factory=dict)
    checkpoints_checked: tuple[Checkpoint, ...] = field(default=())


def iter_chain_rows(*, chunk_size: int = 10_000) -> Iterator[tuple[Any, ...]]:
    """Every event in ``seq`` order as a tuple of ``CHAIN_FIELDS``, streamed.

    On PostgreSQL ``iterator()`` uses a server-side cursor, so memory stays constant however
    long the chain is.
    """
    return (
        AuditEvent.objects.order_by("seq")
        .values_list(*CHAIN_FIELDS)
        .iterator(chunk_size=chunk_size)
    )


def _mac_matches(key: bytes, values: tuple[Any, ...]) -> bool:
    """Whether a row (a tuple of ``CHAIN_FIELDS``) carries the MAC of its own content."""
    # zip stops before ``mac``, the one column the MAC does not cover. hmac.digest is the
    # one-call C path: a million HMAC objects would cost more than the hashing. A plain ``==``,
    # not compare_digest: nobody learns anything from the verifier's timing, and a tampered
    # MAC may hold non-ASCII text that compare_digest would refuse.
    message = values[-2].encode() + _encode(dict(zip(_ENCODED_FIELDS, values, strict=False)))
    return hmac.digest(key, message, "sha256").hex() == values[-1]


Progress = Callable[[int], None]


def verify_rows(
    rows: Iterable[tuple[Any, ...]],
    *,
    key: bytes,
    anchors: Mapping[int, str] | None = None,
    checkpoints: Sequence[Checkpoint] = (),
    progress: Progress | None = None,
    every: int = 10_000,
) -> ChainVerification:
    """Check that ``rows`` (tuples of ``CHAIN_FIELDS`` in seq order) form one intact chain
    that still holds every checkpoint. ``progress(events walked)`` is called every ``every``
    events."""
    steps = ((v[0], v[-2], v[-1], _mac_matches(key, v)) for v in rows)
    return _walk(_reporting(steps, progress, every), checkpoints=_merge(anchors, checkpoints))


def _reporting(
    steps: Iterable[tuple[int, str, str, bool]], progress: Progress | None, every: int
) -> Iterator[tuple[int, str, str, bool]]:
    if progress is None:
        yield from steps
        return
    for n, step in enumerate(steps, start=1):
        yield step
        if n % every == 0:
            progress(n)


def _merge(
    anchors: Mapping[int, str] | None, checkpoints: Sequence[Checkpoint]
) -> dict[int, Checkpoint]:
    """One checkpoint per position: the one with the longest MAC (a prefix proves less)."""
    merged: dict[int, Checkpoint] = {}
    given = [Checkpoint(seq=s, mac=m, source="anchor") for s, m in (anchors or {}).items()]
    for checkpoint in [*checkpoints, *given]:
        held = merged.get(checkpoint.seq)
        if held is None or len(checkpoint.mac) > len(held.mac):
            merged[checkpoint.seq] = checkpoint
    return merged


def _walk(
    steps: Iterable[tuple[int, str, str, bool]], *, checkpoints: Mapping[int, Checkpoint]
) -> ChainVerification:
    """Walk ``(seq, prev_mac, mac, mac_ok)`` in seq order and name the first broken event.

    For each event, in this order: its position (``seq`` must be the previous one plus one:
    a gap means removed events, a step back means reordered or inserted ones), its link
    (``prev_mac`` must equal the previous event's ``mac``), its own MAC (``mac_ok``). The
    first failure stops the walk. ``checkpoints`` maps seq to a head that a receipt, report,
    backup or earlier verification recorded: a chain that no longer reaches one was
    truncated, and the message names it and the missing range.
    """
    pending = dict(checkpoints)
    expected_seq = 1
    prev_mac = GENESIS_MAC
    count = 0
    checked: list[Checkpoint] = []

    def failed(seq: int, problem: str, **params: Any) -> ChainVerification:
        params = {"seq": seq, **params}
        return ChainVerification(
            ok=False,
            count=count,
            head_seq=expected_seq - 1,
            head_mac=prev_mac,
            first_bad_seq=seq,
            problem=problem,
            message=problem_message(problem, params),
            anchors_checked=tuple(c.seq for c in checked),
            params=params,
            checkpoints_checked=tuple(checked),
        )

    for seq, row_prev, stored_mac, mac_ok in steps:
        if seq > expected_seq:
            return failed(expected_seq, "removed", next=seq)
        if seq < expected_seq:
            return failed(seq, "reordered", prev=expected_seq - 1)
        linked = row_prev == prev_mac
        if not mac_ok and not linked:
            return failed(seq, "reordered", prev=seq - 1, mac_ok=False)
        if not mac_ok:
            return failed(seq, "altered")
        if not linked:
            return failed(seq, "relinked", prev=seq - 1)
        if seq in pending:
            checkpoint = pending.pop(seq)
            # A printed head may carry a prefix of the MAC (receipts show 32 hex digits).
            if not checkpoint.mac or not stored_mac.startswith(checkpoint.mac):
                return failed(seq, "anchor_mismatch", checkpoint=checkpoint.as_params())
            checked.append(checkpoint)
        count += 1
        expected_seq = seq + 1
        prev_mac = stored_mac

    if pending:
        # The latest checkpoint past the end: the whole missing range is named.
        missing = pending[max(pending)]
        return failed(
            expected_seq,
            "truncated",
            head=expected_seq - 1,
            checkpoint=missing.as_params(),
        )
    return ChainVerification(
        ok=True,
        count=count,
        head_seq=expected_seq - 1,
        head_mac=prev_mac,
        anchors_checked=tuple(c.seq for c in checked),
        checkpoints_checked=tuple(checked),
    )


def verify_chain(
    *,
    chunk_size: int = 10_000,
    anchors: Mapping[int, str] | None = None,
    checkpoints: Sequence[Checkpoint] = (),
    jobs: int = 1,
    progress: Progress | None = None,
) -> ChainVerification:
    """Walk the stored chain from the first event to the head, in constant memory.

    The chain must hold every one of ``checkpoints`` (and ``anchors``, SEQ → MAC); collect
    them first (``audits.checkpoints.known_checkpoints``), so that each was recorded before
    the walk starts reading. ``jobs`` > 1 recomputes the MACs in that many processes, each over
    a range of ``seq``, then walks positions and links (three short columns) in this process;
    the outcome is the same as with one process. It forks, so it is for the command line:
    inside a transaction (whose rows other processes cannot see) or for a short chain it walks
    in one process.
    """
    key = audit_key()
    using = router.db_for_read(AuditEvent)
    if jobs > 1 and not connections[using].in_atomic_block:
        bounds = AuditEvent.objects.using(using).aggregate(lo=Min("seq"), hi=Max("seq"))
        if bounds["hi"] is not None and bounds["hi"] - bounds["lo"] >= PARALLEL_MIN_EVENTS:
            return _verify_in_processes(
                lo=bounds["lo"], hi=bounds["hi"], jobs=jobs, chunk_size=chunk_size,
                checkpoints=_merge(anchors, checkpoints), using=using,
            )  # fmt: skip
    return verify_rows(
        iter_chain_rows(chunk_size=chunk_size),
        key=key,
        anchors=anchors,
        checkpoints=checkpoints,
        progress=progress,
        every=chunk_size,
    )


#: Below this many events, forking costs more than it saves.
PARALLEL_MIN_EVENTS = 50_000


def _verify_in_processes(
    *,
    lo: int,
    hi: int,
    jobs: int,
    chunk_size: int,
    checkpoints: Mapping[int, Checkpoint],
    using: str,
) -> ChainVerification:
    # Ranges (after, upto]: the first is open below and every range stops at the head seen now,
    # so rows out of place and rows appended meanwhile are treated exactly as by _walk, which
    # reads up to the same head.
    cuts = [lo - 1 + (hi - lo + 1) * i // jobs for i in range(1, jobs)]
    ranges = list(zip([None, *cuts], [*cuts, hi], strict=True))
    connections.close_all()  # children must not share this process's connection
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_forget_inherited_connections
    ) as pool:
        futures = [
            pool.submit(_first_bad_mac, after=after, upto=upto, chunk_size=chunk_size, using=using)
            for after, upto in ranges
        ]
        first_bad = min((b for f in futures if (b := f.result()) is not None), default=None)
    light = (
        AuditEvent.objects.using(using)
        .filter(seq__lte=hi)
        .order_by("seq")
        .values_list("seq", "prev_mac", "mac")
        .iterator(chunk_size=chunk_size * 5)
    )
    # Only the first bad MAC matters: the walk stops there at the latest.
    return _walk(((s, p, m, s != first_bad) for s, p, m in light), checkpoints=checkpoints)


def _forget_inherited_connections() -> None:
    """In a forked child: drop every database connection object inherited from the parent,
    without closing it (closing would end the parent's session on the shared socket). The
    parent closes its own before forking, but that reaches only the connections of its current
    context: after a browser test had driven Playwright (greenlets, each with its own context)
    the children still inherited an open one and broke each other's cursors."""
    for alias in connections:
        connections[alias].connection = None


def _first_bad_mac(*, after: int | None, upto: int, chunk_size: int, using: str) -> int | None:
    """In a child process: the first seq in (after, upto] whose MAC does not match, if any."""
    key = audit_key()
    rows = AuditEvent.objects.using(using).filter(seq__lte=upto)
    if after is not None:
        rows = rows.filter(seq__gt=after)
    try:
        for values in rows.order_by("seq").values_list(*CHAIN_FIELDS).iterator(chunk_size):
            if not _mac_matches(key, values):
                return values[0]
        return None
    finally:
        connections.close_all()
