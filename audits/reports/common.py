"""What the report builders share: parameters, event streams, cell formatting."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import islice
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.lib.units import mm
from reportlab.platypus import CondPageBreak, Flowable, PageBreak, Table

from customers.choices import Tier
from transferdesk.pdf import TABLE_STYLE, cell, para
from transferdesk.trail import AuditAction, AuditEvent
from transfers.models import TransferDeal

T = TypeVar("T")
#: Rows fetched per database round trip while streaming events into a table.
CHUNK = 2000
Progress = Callable[[int], None]

#: The columns of every event table, A4 portrait minus margins (178 mm).
EVENT_COLUMNS = [13 * mm, 29 * mm, 22 * mm, 32 * mm, 34 * mm, 48 * mm]


@dataclass
class ReportParams:
    """What a report is about. References only (ids, dates, codes), so it can be stored in a
    job row and sent as task arguments."""

    deal: str = ""
    date_from: date | None = None
    date_to: date | None = None
    by: str = "user"  # access report: "user" or "customer"
    campaign: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "deal": self.deal,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "by": self.by,
            "campaign": self.campaign,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReportParams:
        return cls(
            deal=data.get("deal") or "",
            date_from=date.fromisoformat(data["date_from"]) if data.get("date_from") else None,
            date_to=date.fromisoformat(data["date_to"]) if data.get("date_to") else None,
            by=data.get("by") or "user",
            campaign=data.get("campaign") or None,
        )

    def period_label(self) -> str:
        if not self.date_from and not self.date_to:
            return _("Whole trail")
        start = self.date_from.isoformat() if self.date_from else "…"
        end = self.date_to.isoformat() if self.date_to else "…"
        return f"{start} to {end}"


@dataclass
class BuildContext:
    """Counts the rows streamed and reports progress once per chunk."""

    progress: Progress | None = None
    rows: int = 0
    totals: dict[str, int] = field(default_factory=dict)

    def tick(self, n: int) -> None:
        self.rows += n
        if self.progress is not None:
            self.progress(self.rows)


def resolve_deal(reference: str) -> Any:
    """The deal with this reference (or primary key); ValidationError if there is none."""
    reference = (reference or "").strip()
    if not reference:
        raise ValidationError(_("Name the deal (its reference)."))
    deal = (
        TransferDeal.objects.select_related("seller", "buyer").filter(reference=reference).first()
    )
    if deal is None:
        try:
            deal = TransferDeal.objects.select_related("seller", "buyer").get(pk=reference)
        except (ObjectDoesNotExist, ValueError, ValidationError):
            deal = None
    if deal is None:
        raise ValidationError(_("There is no deal with the reference {ref}.").format(ref=reference))
    return deal


def within(queryset: QuerySet[AuditEvent], params: ReportParams) -> QuerySet[AuditEvent]:
    """Events of the report's period (whole local days, both ends included)."""
    tz = timezone.get_current_timezone()
    if params.date_from:
        queryset = queryset.filter(time__gte=datetime.combine(params.date_from, time.min, tz))
    if params.date_to:
        end = datetime.combine(params.date_to + timedelta(days=1), time.min, tz)
        queryset = queryset.filter(time__lt=end)
    return queryset


def batched(iterable: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(iterable)
    while batch := list(islice(iterator, size)):
        yield batch


def action_labels() -> dict[str, str]:
    return {value: str(label) for value, label in AuditAction.choices}


def summarise(details: Any, limit: int = 120) -> str:
    """Details as short ``key=value`` text: ids and codes only, so safe to print."""
    if not details:
        return ""
    if isinstance(details, dict):
        text = ", ".join(f"{k}={_flat(v)}" for k, v in details.items())
    else:
        text = _flat(details)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _flat(value: Any) -> str:
    if isinstance(value, list):
        return "[" + " ".join(_flat(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + " ".join(f"{k}={_flat(v)}" for k, v in value.items()) + "}"
    return str(value)


def local(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""


EVENT_FIELDS = ("seq", "time", "actor_name", "action", "object_type", "object_id", "details")


def event_rows(queryset: QuerySet[AuditEvent], ctx: BuildContext) -> Iterator[list[str]]:
    """Stream events as table rows, ``CHUNK`` at a time, in chain order."""
    labels = action_labels()
    system = _("system")
    rows = queryset.order_by("seq").values_list(*EVENT_FIELDS).iterator(chunk_size=CHUNK)
    pending = 0
    for seq, when, actor, action, otype, oid, details in rows:
        yield [
            str(seq),
            local(when),
            actor or system,
            labels.get(action, action),
            f"{otype.rsplit('.', 1)[-1]} {short_id(oid)}".strip(),
            summarise(details, limit=240),
        ]
        pending += 1
        if pending == CHUNK:
            ctx.tick(pending)
            pending = 0
    if pending:
        ctx.tick(pending)


#: Average advance of a character of the 7.5 pt table font, in points: a cell whose text is
#: longer than its column holds at this rate is wrapped (a paragraph) instead of overflowing.
CHAR_PT = 4.4


def fast_cell(value: object, max_chars: int = 60) -> object:
    """``transferdesk.pdf.cell`` with a fast path: short ASCII text (most cells of a long
    timeline) stays a plain string without scanning it glyph by glyph; anything else (CJK,
    text wider than its column) becomes the frame's escaped, wrapping paragraph: wrapped
    between words where each word fits ("General, Sensitive"), anywhere otherwise (CJK, a
    digest)."""
    text = "" if value is None else str(value)
    if len(text) <= max_chars and text.isascii():
        return text
    words = text.isascii() and all(len(w) <= max_chars for w in text.split())
    return para(text, "cell-words" if words else "cell")


def table_chunks(
    header: list[str],
    rows: Iterable[list[Any]],
    *,
    col_widths: list[float] | None = None,
    chunk_size: int = 200,
) -> Iterator[Flowable]:
    """The frame's streamed table (bounded chunks with a repeating header, so layout stays
    linear), with ``fast_cell`` for the cells, wrapped to their column's width."""
    head = [cell(h) for h in header]
    limits = [max(4, int((w - 12) / CHAR_PT)) for w in col_widths] if col_widths else None
    for batch in batched(rows, chunk_size):
        if limits:
            data = [[fast_cell(v, n) for v, n in zip(row, limits, strict=False)] for row in batch]
        else:
            data = [[fast_cell(v) for v in row] for row in batch]
        table = Table([head, *data], colWidths=col_widths, repeatRows=1, hAlign="LEFT")
        table.setStyle(TABLE_STYLE)
        yield table


def short_id(value: str) -> str:
    """Ids as a reader compares them: long ones (UUIDs) cut to their first 8 characters; the
    CSV export and the explorer hold them whole."""
    return value if len(value) <= 12 else value[:8] + "..."


def event_table(
    title: str, queryset: QuerySet[AuditEvent], ctx: BuildContext, empty: str
) -> Iterator[Flowable]:
    """A heading and the events as a streamed, page-splitting table (or an honest empty line)."""
    yield from heading(title)
    from .rows import row_blocks

    header = [_("#"), _("Time"), _("Actor"), _("Action"), _("Object"), _("Details")]
    produced = False
    for flowable in row_blocks(header, event_rows(queryset, ctx), EVENT_COLUMNS):
        produced = True
        yield flowable
    if not produced:
        yield para(empty, "muted")


def section(title: str, header: list[str], rows: Iterable[list[Any]], empty: str,
            col_widths: list[float] | None = None) -> Iterator[Flowable]:  # fmt: skip
    yield from heading(title)
    produced = False
    for flowable in table_chunks(header, rows, col_widths=col_widths):
        produced = True
        yield flowable
    if not produced:
        yield para(empty, "muted")


def heading(title: str) -> Iterator[Flowable]:
    """A section heading that is never left alone at the foot of a page: if less than room
    for the heading and a few rows remains, the section starts on the next page. (Not
    ``keepWithNext``: that would move a whole page-sized block of rows along with it.)"""
    yield CondPageBreak(28 * mm)
    yield para(title, "h2", bold=True)


def page_break() -> Flowable:
    return PageBreak()


def tier_names(tiers: Any) -> str:
    """A stage's tiers as the reader's words ("General, Sensitive"), not their stored codes."""
    return ", ".join(str(Tier(t).label) for t in tiers or [])
